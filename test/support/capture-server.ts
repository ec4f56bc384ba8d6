/**
 * An HTTP server that records every request it receives (method, path, every header, body) and
 * answers any POST like a model API would (OpenAI Chat Completions, or Anthropic Messages when the
 * request carries `anthropic-version`). Tests use it as a "foreign endpoint" (a host a run names
 * but the worker's operator did not allow), to assert what arrives there: nothing, or only the
 * key bound to it.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface CapturedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export class CaptureServer {
  readonly requests: CapturedRequest[] = [];

  private constructor(
    private readonly server: http.Server,
    /** `http://127.0.0.1:<port>` */
    readonly url: string,
    /** Assistant text of every reply. */
    readonly reply: string,
  ) {}

  /** Where requests under `/redirect` are sent on (307, same path below it); set by the test. */
  redirectTo: string | undefined;

  /** Start on a free loopback port. */
  static async start(reply = 'FROM-CAPTURE-SERVER'): Promise<CaptureServer> {
    const holder: { self?: CaptureServer } = {};
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        const self = holder.self!;
        self.requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body });
        const path = req.url ?? '/';
        if (self.redirectTo && path.startsWith('/redirect/')) {
          res.writeHead(307, { location: `${self.redirectTo}${path.slice('/redirect'.length)}` }).end();
          return;
        }
        const anthropic = req.headers['anthropic-version'] !== undefined;
        const json = anthropic
          ? {
              id: 'msg_capture',
              type: 'message',
              role: 'assistant',
              model: 'capture',
              content: [{ type: 'text', text: reply }],
              stop_reason: 'end_turn',
              usage: { input_tokens: 1, output_tokens: 1 },
            }
          : {
              id: 'chatcmpl-capture',
              object: 'chat.completion',
              created: 0,
              model: 'capture',
              choices: [{ index: 0, message: { role: 'assistant', content: reply }, finish_reason: 'stop' }],
              usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
            };
        let streamed = false;
        try {
          streamed = (JSON.parse(body) as { stream?: boolean }).stream === true;
        } catch {
          streamed = false;
        }
        if (!streamed) {
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(json));
          return;
        }
        // Providers stream their calls: the same reply as Server-Sent Events.
        const sse = (event: string | undefined, data: unknown) =>
          `${event ? `event: ${event}\n` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;
        const events = anthropic
          ? [
              sse('message_start', {
                type: 'message_start',
                message: { ...json, content: [], stop_reason: null },
              }),
              sse('content_block_start', {
                type: 'content_block_start',
                index: 0,
                content_block: { type: 'text', text: '' },
              }),
              sse('content_block_delta', {
                type: 'content_block_delta',
                index: 0,
                delta: { type: 'text_delta', text: reply },
              }),
              sse('content_block_stop', { type: 'content_block_stop', index: 0 }),
              sse('message_delta', {
                type: 'message_delta',
                delta: { stop_reason: 'end_turn' },
                usage: { output_tokens: 1 },
              }),
              sse('message_stop', { type: 'message_stop' }),
            ]
          : [
              sse(undefined, {
                id: 'chatcmpl-capture',
                object: 'chat.completion.chunk',
                created: 0,
                model: 'capture',
                choices: [{ index: 0, delta: { role: 'assistant', content: reply }, finish_reason: 'stop' }],
              }),
              sse(undefined, {
                id: 'chatcmpl-capture',
                object: 'chat.completion.chunk',
                created: 0,
                model: 'capture',
                choices: [],
                usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
              }),
              sse(undefined, '[DONE]'),
            ];
        res.writeHead(200, { 'content-type': 'text/event-stream' }).end(events.join(''));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const self = (holder.self = new CaptureServer(
      server,
      `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      reply,
    ));
    return self;
  }

  /** Every header value of every request, joined: what a leaked key would show up in. */
  allHeaderText(): string {
    return this.requests.map((r) => JSON.stringify(r.headers)).join('\n');
  }

  reset(): void {
    this.requests.length = 0;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}
