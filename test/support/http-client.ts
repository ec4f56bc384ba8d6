/**
 * A raw HTTP client for API tests: any method, headers (Origin, Host, Sec-Fetch-Site included,
 * which fetch may rewrite) and body bytes, over node:http.
 */
import { request } from 'node:http';

export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: any;
}

/** Send one request to `base` (http://host:port) and read the whole answer. */
export function raw(
  base: string,
  method: string,
  path: string,
  opts: { headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<RawAnswer> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        // One connection per request: a body the server refused early must not poison a pooled socket.
        agent: false,
        headers: {
          ...(opts.body !== undefined && { 'content-length': String(Buffer.byteLength(opts.body)) }),
          ...opts.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: any;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    // The server may answer (413) and close before the whole body is written: that is not a failure.
    req.on('socket', (socket) => socket.on('error', () => undefined));
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

/** Headers of a JSON request with a bearer key. */
export function jsonHeaders(key?: string): Record<string, string> {
  return { 'content-type': 'application/json', ...(key && { authorization: `Bearer ${key}` }) };
}
