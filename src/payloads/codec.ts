/**
 * Large payloads by reference: a Temporal payload codec that moves every payload of at least
 * `threshold` bytes into the payload store and leaves `{ $ref, bytes, sha256 }` in its place, and
 * the activity-side helpers that store values explicitly (a ReAct agent's conversation).
 *
 * Why a codec: every payload Temporal records (workflow input and result, activity input and
 * result, queries, updates, signals, continue-as-new input) passes through it, on workers and
 * clients alike, so nothing large reaches history whichever path it takes, and workflow code stays
 * as it is (it sees whole values: replay, retry and fork work unchanged). Codecs run in the worker's
 * main thread, never in the deterministic workflow sandbox. It is placed after the encryption
 * codec, so with BATON_CODEC_KEYS set the stored bodies are ciphertext.
 */
import type { Payload, PayloadCodec } from '@temporalio/common';
import { defaultPayloadConverter } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { getBody, isPayloadRef, putBody, PayloadStoreError, type BlobStore, type PayloadRef } from './store';

/** Encoding of a payload that is a reference into the payload store. */
export const REF_ENCODING = 'json/baton-payload-ref';
/** Payloads of this many bytes or more go to the store by default (16 KiB). */
export const DEFAULT_THRESHOLD = 16 * 1024;

const utf8 = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | null | undefined) => (b ? Buffer.from(b).toString('utf8') : '');

/**
 * The codec that stores large payloads by reference.
 *
 * @example { payloadCodecs: [new AesGcmCodec(keys), new PayloadStoreCodec(new FileBlobStore(dir))] }
 */
export class PayloadStoreCodec implements PayloadCodec {
  constructor(
    readonly store: BlobStore,
    readonly threshold: number = DEFAULT_THRESHOLD,
  ) {}

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return Promise.all(
      payloads.map(async (p) => {
        const size = p.data?.length ?? 0;
        if (size < this.threshold) return p;
        const body = temporal.api.common.v1.Payload.encode(p).finish();
        const ref = await putBody(this.store, body);
        return { metadata: { encoding: utf8(REF_ENCODING) }, data: utf8(JSON.stringify(ref)) };
      }),
    );
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return Promise.all(
      payloads.map(async (p) => {
        if (text(p.metadata?.encoding) !== REF_ENCODING) return p;
        const ref = refOf(p);
        const body = await getBody(this.store, ref);
        return temporal.api.common.v1.Payload.decode(body) as Payload;
      }),
    );
  }
}

function refOf(p: Payload): PayloadRef {
  let ref: unknown;
  try {
    ref = JSON.parse(text(p.data));
  } catch {
    ref = undefined;
  }
  if (!isPayloadRef(ref))
    throw new PayloadStoreError(
      `a payload marked ${REF_ENCODING} holds no { $ref, bytes, sha256 }: ${text(p.data).slice(0, 200)}`,
    );
  return ref;
}

/**
 * Store values explicitly (not through history): each value becomes a payload, goes through the
 * given codecs (the encryption codec, when keys are set) and is stored whole, whatever its size.
 */
export class ValueStore {
  constructor(
    readonly store: BlobStore,
    private readonly codecs: PayloadCodec[] = [],
  ) {}

  async put(value: unknown): Promise<PayloadRef> {
    let payloads = [defaultPayloadConverter.toPayload(value)];
    for (const c of this.codecs) payloads = await c.encode(payloads);
    return putBody(this.store, temporal.api.common.v1.Payload.encode(payloads[0]!).finish());
  }

  async get<T>(ref: PayloadRef): Promise<T> {
    let payloads = [temporal.api.common.v1.Payload.decode(await getBody(this.store, ref)) as Payload];
    for (let i = this.codecs.length - 1; i >= 0; i--) payloads = await this.codecs[i]!.decode(payloads);
    return defaultPayloadConverter.fromPayload<T>(payloads[0]!);
  }
}
