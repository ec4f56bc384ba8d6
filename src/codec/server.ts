/**
 * Temporal's remote codec server format, so the Temporal UI and `temporal` CLI
 * (`--codec-endpoint`) can show decoded payloads: POST /encode and /decode take and answer
 * `{ "payloads": [{ "metadata": { "<key>": "<base64>" }, "data": "<base64>" }] }`.
 * The HTTP layer (auth, CORS, routes) mounts these handlers; they know nothing of HTTP.
 */
import type { Payload, PayloadCodec } from '@temporalio/common';

/** A request body that is not the codec JSON format; the message says what and where (answer 400). */
export class CodecRequestError extends Error {
  override name = 'CodecRequestError';
  readonly status = 400;
}

export interface CodecServerHandlers {
  encode(body: unknown): Promise<unknown>;
  decode(body: unknown): Promise<unknown>;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function bytes(value: unknown, where: string): Uint8Array {
  if (typeof value !== 'string' || value.length % 4 !== 0 || !BASE64.test(value))
    throw new CodecRequestError(`${where} must be a base64 string`);
  return Buffer.from(value, 'base64');
}

function parseBody(body: unknown): Payload[] {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new CodecRequestError('the body must be a JSON object with a "payloads" array');
  const list = (body as { payloads?: unknown }).payloads;
  if (!Array.isArray(list)) throw new CodecRequestError('"payloads" must be an array');
  return list.map((p: unknown, i) => {
    const where = `payloads[${i}]`;
    if (typeof p !== 'object' || p === null || Array.isArray(p))
      throw new CodecRequestError(`${where} must be an object with "metadata" and "data"`);
    const { metadata, data } = p as { metadata?: unknown; data?: unknown };
    if (
      metadata !== undefined &&
      (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata))
    )
      throw new CodecRequestError(`${where}.metadata must be an object of base64 strings`);
    const meta: Record<string, Uint8Array> = {};
    for (const [k, v] of Object.entries((metadata ?? {}) as Record<string, unknown>))
      meta[k] = bytes(v, `${where}.metadata.${k}`);
    return { metadata: meta, data: data === undefined ? new Uint8Array() : bytes(data, `${where}.data`) };
  });
}

function toJSON(payloads: Payload[]): { payloads: { metadata: Record<string, string>; data: string }[] } {
  return {
    payloads: payloads.map((p) => ({
      metadata: Object.fromEntries(
        Object.entries(p.metadata ?? {}).map(([k, v]) => [
          k,
          Buffer.from(v ?? new Uint8Array()).toString('base64'),
        ]),
      ),
      data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
    })),
  };
}

/**
 * Handlers for POST /codec/encode and /codec/decode. A malformed body throws CodecRequestError
 * (answer 400 with its message); a payload that does not decrypt throws PayloadDecryptionError.
 *
 * @example app.post('/codec/decode', async (c) => c.json(await handlers.decode(await c.req.json())))
 */
export function codecServerHandlers(codec: PayloadCodec): CodecServerHandlers {
  return {
    encode: async (body) => toJSON(await codec.encode(parseBody(body))),
    decode: async (body) => toJSON(await codec.decode(parseBody(body))),
  };
}
