/**
 * Large values by reference (docs/operations.md#payload-store): the payload store, its settings
 * (BATON_PAYLOAD_STORE, BATON_PAYLOAD_STORE_THRESHOLD, BATON_PAYLOAD_STORE_ENDPOINT) and the codec
 * that keeps history small.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_THRESHOLD } from './codec';
import { S3BlobStore } from './s3';
import { defaultPayloadDir, FileBlobStore, PayloadStoreError, type BlobStore } from './store';

export { PayloadStoreCodec, ValueStore, REF_ENCODING, DEFAULT_THRESHOLD } from './codec';
export { S3BlobStore, type S3StoreOptions } from './s3';
export {
  FileBlobStore,
  PayloadStoreError,
  defaultPayloadDir,
  getBody,
  isPayloadRef,
  putBody,
  type BlobStore,
  type PayloadRef,
} from './store';

export const PAYLOAD_STORE_ENV = 'BATON_PAYLOAD_STORE';
export const PAYLOAD_THRESHOLD_ENV = 'BATON_PAYLOAD_STORE_THRESHOLD';
export const PAYLOAD_ENDPOINT_ENV = 'BATON_PAYLOAD_STORE_ENDPOINT';

/** The payload store settings: where bodies go and from what size. */
export interface PayloadStoreSettings {
  store: BlobStore;
  /** Payloads of this many bytes or more are stored by reference. */
  threshold: number;
}

/**
 * The payload store the environment configures: `BATON_PAYLOAD_STORE` is `file:///abs/dir`, an
 * absolute directory, `s3://bucket/prefix` (with BATON_PAYLOAD_STORE_ENDPOINT for an
 * S3-compatible server), or `off`; unset, a directory under the OS cache dir
 * (~/.cache/baton/payloads). `BATON_PAYLOAD_STORE_THRESHOLD` (bytes, default 16384) is the size
 * from which a payload is stored. Returns undefined for `off`. Each setting is read from `env`,
 * else from this process's environment, so workers and clients of one machine agree.
 *
 * @example payloadStoreFromEnv({ BATON_PAYLOAD_STORE: 's3://baton-payloads/prod' })
 */
export function payloadStoreFromEnv(env: NodeJS.ProcessEnv = process.env): PayloadStoreSettings | undefined {
  const get = (name: string) => {
    const v = env[name] ?? process.env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  const raw = get(PAYLOAD_STORE_ENV);
  const thresholdRaw = get(PAYLOAD_THRESHOLD_ENV);
  let threshold = DEFAULT_THRESHOLD;
  if (thresholdRaw !== undefined) {
    threshold = Number(thresholdRaw);
    if (!Number.isInteger(threshold) || threshold < 1024)
      throw new PayloadStoreError(
        `${PAYLOAD_THRESHOLD_ENV}=${thresholdRaw} is not a whole number of bytes of at least 1024`,
      );
  }
  if (raw === 'off') return undefined;
  const endpoint = get(PAYLOAD_ENDPOINT_ENV);
  return { store: blobStoreOf(raw, endpoint, env), threshold };
}

function blobStoreOf(
  raw: string | undefined,
  endpoint: string | undefined,
  env: NodeJS.ProcessEnv,
): BlobStore {
  const where = `${PAYLOAD_STORE_ENV}=${raw}`;
  if (raw === undefined) return new FileBlobStore(defaultPayloadDir({ ...process.env, ...env }));
  if (path.isAbsolute(raw)) return new FileBlobStore(raw);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new PayloadStoreError(
      `${where} is not file:///<absolute dir>, an absolute directory, s3://<bucket>/<prefix> or off`,
    );
  }
  if (url.protocol === 'file:') return new FileBlobStore(fileURLToPath(url));
  if (url.protocol === 's3:') {
    if (!url.hostname) throw new PayloadStoreError(`${where} names no bucket (s3://<bucket>/<prefix>)`);
    if (endpoint !== undefined && !/^https?:\/\//.test(endpoint))
      throw new PayloadStoreError(`${PAYLOAD_ENDPOINT_ENV}=${endpoint} is not an http(s) URL`);
    return new S3BlobStore({
      bucket: url.hostname,
      prefix: decodeURIComponent(url.pathname.replace(/^\//, '')),
      ...(endpoint && { endpoint }),
      ...((env.AWS_REGION ?? process.env.AWS_REGION) && { region: env.AWS_REGION ?? process.env.AWS_REGION }),
    });
  }
  throw new PayloadStoreError(`${where}: scheme '${url.protocol}' is not file: or s3:`);
}
