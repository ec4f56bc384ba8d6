import { defaultPayloadConverter } from '@temporalio/common';
import { randomBytes } from 'node:crypto';
import {
  AesGcmCodec,
  codecFromEnv,
  CodecKeyError,
  CodecRequestError,
  codecServerHandlers,
  dataConverterFromEnv,
  PayloadDecryptionError,
} from '../../src/codec';

const k1 = randomBytes(32).toString('base64');
const k2 = randomBytes(32).toString('base64');
const secret = 'the prompt text nobody may read at rest';
const payload = () => defaultPayloadConverter.toPayload(secret);

test('encrypts a payload whole: no plain text, the key id in metadata, and it decodes back', async () => {
  const codec = codecFromEnv({ BATON_CODEC_KEYS: `k1:${k1}` })!;
  const [enc] = await codec.encode([payload()]);
  expect(Buffer.from(enc!.data!).toString('latin1')).not.toContain('prompt text');
  expect(Buffer.from(enc!.metadata!['encryption-key-id']!).toString()).toBe('k1');
  expect(Buffer.from(enc!.metadata!.encoding!).toString()).toBe('binary/encrypted');
  const [dec] = await codec.decode([enc!]);
  expect(defaultPayloadConverter.fromPayload(dec!)).toBe(secret);
  // Two encryptions of the same value differ (a fresh IV each time).
  const [again] = await codec.encode([payload()]);
  expect(Buffer.from(again!.data!).equals(Buffer.from(enc!.data!))).toBe(false);
});

test('key rotation: written with k1, read with "k2,k1"; new payloads use k2', async () => {
  const old = codecFromEnv({ BATON_CODEC_KEYS: `k1:${k1}` })!;
  const rotated = codecFromEnv({ BATON_CODEC_KEYS: `k2:${k2},k1:${k1}` })!;
  const [enc] = await old.encode([payload()]);
  expect(defaultPayloadConverter.fromPayload((await rotated.decode([enc!]))[0]!)).toBe(secret);
  const [fresh] = await rotated.encode([payload()]);
  expect(Buffer.from(fresh!.metadata!['encryption-key-id']!).toString()).toBe('k2');
});

test('an unknown key id fails with an error naming the id, never the key', async () => {
  const [enc] = await codecFromEnv({ BATON_CODEC_KEYS: `k1:${k1}` })!.encode([payload()]);
  const other = codecFromEnv({ BATON_CODEC_KEYS: `k2:${k2}` })!;
  const e = await other.decode([enc!]).catch((x: Error) => x);
  expect(e).toBeInstanceOf(PayloadDecryptionError);
  expect((e as Error).message).toMatch(/codec key id 'k1'.*not among.*ids: k2/);
  expect((e as Error).message).not.toContain(k1);
  expect((e as Error).message).not.toContain(k2);
  // A different key under the same id: refused, not garbage.
  const impostor = codecFromEnv({ BATON_CODEC_KEYS: `k1:${k2}` })!;
  await expect(impostor.decode([enc!])).rejects.toThrow(/key id 'k1' does not decrypt/);
});

test('plain payloads pass through decode (histories from before encryption stay readable)', async () => {
  const codec = new AesGcmCodec([{ id: 'k1', key: randomBytes(32) }]);
  const p = payload();
  expect(await codec.decode([p])).toEqual([p]);
});

test('BATON_CODEC_KEYS: unset means no codec; malformed entries are refused naming the entry, never the key', () => {
  expect(codecFromEnv({})).toBeUndefined();
  expect(dataConverterFromEnv({ BATON_CODEC_KEYS: '', BATON_PAYLOAD_STORE: 'off' })).toBeUndefined();
  expect(
    dataConverterFromEnv({ BATON_CODEC_KEYS: `k1:${k1}`, BATON_PAYLOAD_STORE: 'off' })?.payloadCodecs,
  ).toHaveLength(1);
  const short = randomBytes(16).toString('base64');
  for (const [raw, msg] of [
    [k1, /entry 1 is not '<key id>:<base64/],
    [`k1:${short}`, /entry 1: key 'k1' is not the base64 of 32 bytes \(got 16 bytes\)/],
    [`k1:${k1},k1:${k2}`, /entry 2: key id 'k1' appears twice/],
    [`k 1:${k1}`, /entry 1: key id 'k 1' may hold only/],
    [`k1:${k1},k2:not base64!`, /entry 2: key 'k2' is not the base64/],
  ] as const) {
    let e: unknown;
    try {
      codecFromEnv({ BATON_CODEC_KEYS: raw });
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(CodecKeyError);
    expect((e as Error).message).toMatch(msg);
    expect((e as Error).message).not.toContain(k1);
    expect((e as Error).message).not.toContain(short);
  }
});

test('codec server handlers speak the remote codec JSON format', async () => {
  const handlers = codecServerHandlers(codecFromEnv({ BATON_CODEC_KEYS: `k1:${k1}` })!);
  const p = payload();
  const body = {
    payloads: [
      {
        metadata: { encoding: Buffer.from(p.metadata!.encoding!).toString('base64') },
        data: Buffer.from(p.data!).toString('base64'),
      },
    ],
  };
  const encoded = (await handlers.encode(body)) as {
    payloads: { metadata: Record<string, string>; data: string }[];
  };
  expect(encoded.payloads).toHaveLength(1);
  expect(Buffer.from(encoded.payloads[0]!.metadata.encoding!, 'base64').toString()).toBe('binary/encrypted');
  expect(Buffer.from(encoded.payloads[0]!.metadata['encryption-key-id']!, 'base64').toString()).toBe('k1');
  expect(Buffer.from(encoded.payloads[0]!.data, 'base64').toString('latin1')).not.toContain('prompt text');
  const decoded = await handlers.decode(encoded);
  expect(decoded).toEqual(body);
  expect(await handlers.decode({ payloads: [] })).toEqual({ payloads: [] });
});

test('codec server handlers refuse malformed bodies with a CodecRequestError (400) naming the field', async () => {
  const handlers = codecServerHandlers(codecFromEnv({ BATON_CODEC_KEYS: `k1:${k1}` })!);
  const cases: [unknown, RegExp][] = [
    [null, /body must be a JSON object/],
    ['text', /body must be a JSON object/],
    [[], /body must be a JSON object/],
    [{}, /"payloads" must be an array/],
    [{ payloads: 'x' }, /"payloads" must be an array/],
    [{ payloads: [1] }, /payloads\[0\] must be an object/],
    [{ payloads: [{ metadata: [] }] }, /payloads\[0\]\.metadata must be an object/],
    [
      { payloads: [{ metadata: { encoding: 5 } }] },
      /payloads\[0\]\.metadata\.encoding must be a base64 string/,
    ],
    [{ payloads: [{ metadata: {}, data: 'not base64!' }] }, /payloads\[0\]\.data must be a base64 string/],
  ];
  for (const [body, msg] of cases) {
    for (const op of [handlers.encode, handlers.decode]) {
      const e = await op(body).catch((x: Error) => x);
      expect(e).toBeInstanceOf(CodecRequestError);
      expect((e as CodecRequestError).status).toBe(400);
      expect((e as Error).message).toMatch(msg);
    }
  }
});
