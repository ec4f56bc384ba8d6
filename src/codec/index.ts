/**
 * Payload encryption at rest: an AES-256-GCM payload codec configured from BATON_CODEC_KEYS, the
 * data converter workers and clients share, and the handlers of Temporal's remote codec server.
 */
import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
import { PayloadStoreCodec, payloadStoreFromEnv } from '../payloads';
import { AesGcmCodec, CodecKeyError, type CodecKey } from './aes-gcm';

export {
  AesGcmCodec,
  CodecKeyError,
  PayloadDecryptionError,
  CIPHER,
  ENCODING,
  KEY_ID_METADATA,
  type CodecKey,
} from './aes-gcm';
export { codecServerHandlers, CodecRequestError, type CodecServerHandlers } from './server';

export const CODEC_KEYS_ENV = 'BATON_CODEC_KEYS';

/**
 * Parse `k2:<base64 of 32 bytes>,k1:<base64>`: the first key encrypts, all of them decrypt. Errors
 * name the entry (by position and id), never the key.
 */
export function parseCodecKeys(raw: string, setting = CODEC_KEYS_ENV): CodecKey[] {
  const keys: CodecKey[] = [];
  const entries = raw.split(',').map((e) => e.trim());
  entries.forEach((entry, i) => {
    const where = `${setting} entry ${i + 1}`;
    const colon = entry.indexOf(':');
    if (colon <= 0)
      throw new CodecKeyError(
        `${where} is not '<key id>:<base64 of 32 bytes>' (e.g. k1:$(openssl rand -base64 32))`,
      );
    const id = entry.slice(0, colon).trim();
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(id))
      throw new CodecKeyError(
        `${where}: key id '${id.slice(0, 64)}' may hold only letters, digits, '.', '_' and '-'`,
      );
    if (keys.some((k) => k.id === id)) throw new CodecKeyError(`${where}: key id '${id}' appears twice`);
    const b64 = entry.slice(colon + 1).trim();
    const key = Buffer.from(b64, 'base64');
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || key.length !== 32)
      throw new CodecKeyError(
        `${where}: key '${id}' is not the base64 of 32 bytes (got ${key.length} bytes); make one with \`openssl rand -base64 32\``,
      );
    keys.push({ id, key });
  });
  return keys;
}

/** The codec BATON_CODEC_KEYS configures, or undefined when it is unset (payloads stay plain). */
export function codecFromEnv(env: NodeJS.ProcessEnv = process.env): AesGcmCodec | undefined {
  const raw = env[CODEC_KEYS_ENV];
  if (raw === undefined || raw.trim() === '') return undefined;
  return new AesGcmCodec(parseCodecKeys(raw));
}

/**
 * The data converter workers and clients use: with BATON_CODEC_KEYS set, it encrypts workflow and
 * activity payloads and the memo; then payloads from BATON_PAYLOAD_STORE_THRESHOLD bytes (16 KiB)
 * go to the payload store (BATON_PAYLOAD_STORE; encrypted first when keys are set) and history
 * holds their reference. Undefined (the SDK's default) with no keys and BATON_PAYLOAD_STORE=off.
 *
 * @example Worker.create({ ...options, dataConverter: dataConverterFromEnv(process.env) })
 */
export function dataConverterFromEnv(env: NodeJS.ProcessEnv = process.env): DataConverter | undefined {
  const codec = codecFromEnv(env);
  const store = payloadStoreFromEnv(env);
  const codecs: PayloadCodec[] = [
    ...(codec ? [codec] : []),
    ...(store ? [new PayloadStoreCodec(store.store, store.threshold)] : []),
  ];
  return codecs.length ? { payloadCodecs: codecs } : undefined;
}

/** Run payloads through a data converter's codecs (last first), as the SDK does before converting them. */
export async function decodePayloads(
  dataConverter: { payloadCodecs?: PayloadCodec[] } | undefined,
  payloads: Payload[],
): Promise<Payload[]> {
  const codecs: PayloadCodec[] = dataConverter?.payloadCodecs ?? [];
  for (let i = codecs.length - 1; i >= 0; i--) payloads = await codecs[i]!.decode(payloads);
  return payloads;
}
