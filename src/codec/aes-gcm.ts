/**
 * A Temporal payload codec that encrypts every payload with AES-256-GCM. The key id travels in
 * each payload's metadata, so keys can rotate: the first key encrypts, every key decrypts.
 */
import type { Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** Metadata of an encrypted payload (the names Temporal's encryption samples use). */
export const ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
export const CIPHER_METADATA = 'encryption-cipher';
export const CIPHER = 'AES-256-GCM';

const IV_BYTES = 12;
const TAG_BYTES = 16;

export interface CodecKey {
  id: string;
  /** 32 bytes. */
  key: Uint8Array;
}

/** Codec keys are missing or malformed; the message names the setting, never a key. */
export class CodecKeyError extends Error {
  override name = 'CodecKeyError';
}

/** A payload cannot be decrypted (unknown key id, wrong key, altered bytes); the message names the key id. */
export class PayloadDecryptionError extends Error {
  override name = 'PayloadDecryptionError';
}

const utf8 = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | null | undefined) => (b ? Buffer.from(b).toString('utf8') : '');

/**
 * Encrypts each payload whole (metadata and data, as Temporal's protobuf bytes), so that not even
 * the encoding of a value is visible at rest. Payloads without the encrypted encoding pass through
 * decode unchanged: histories written before encryption was turned on stay readable.
 *
 * @example new AesGcmCodec([{ id: 'k1', key: randomBytes(32) }])
 */
export class AesGcmCodec implements PayloadCodec {
  private readonly keys: Map<string, Uint8Array>;
  readonly encryptKeyId: string;

  constructor(keys: CodecKey[]) {
    if (!keys.length) throw new CodecKeyError('a payload codec needs at least one key');
    for (const k of keys)
      if (k.key.length !== 32)
        throw new CodecKeyError(`codec key '${k.id}' is ${k.key.length} bytes; AES-256 needs 32`);
    this.keys = new Map(keys.map((k) => [k.id, k.key]));
    this.encryptKeyId = keys[0]!.id;
  }

  /** The ids of the keys this codec can decrypt with (never the keys). */
  get keyIds(): string[] {
    return [...this.keys.keys()];
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const key = this.keys.get(this.encryptKeyId)!;
    return payloads.map((p) => {
      const plain = temporal.api.common.v1.Payload.encode(p).finish();
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const data = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return {
        metadata: {
          encoding: utf8(ENCODING),
          [KEY_ID_METADATA]: utf8(this.encryptKeyId),
          [CIPHER_METADATA]: utf8(CIPHER),
        },
        data,
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => {
      if (text(p.metadata?.encoding) !== ENCODING) return p;
      const id = text(p.metadata?.[KEY_ID_METADATA]);
      const key = this.keys.get(id);
      if (!key)
        throw new PayloadDecryptionError(
          `a payload is encrypted with codec key id '${id}', which is not among this process's keys ` +
            `(BATON_CODEC_KEYS has ids: ${this.keyIds.join(', ')}); add that key to BATON_CODEC_KEYS`,
        );
      const data = Buffer.from(p.data ?? new Uint8Array());
      if (data.length < IV_BYTES + TAG_BYTES)
        throw new PayloadDecryptionError(`a payload encrypted with codec key id '${id}' is too short`);
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
        decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
        const plain = Buffer.concat([
          decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)),
          decipher.final(),
        ]);
        return temporal.api.common.v1.Payload.decode(plain) as Payload;
      } catch {
        throw new PayloadDecryptionError(
          `a payload encrypted with codec key id '${id}' does not decrypt: the key under that id is not the one ` +
            'it was encrypted with, or the payload was altered',
        );
      }
    });
  }
}
