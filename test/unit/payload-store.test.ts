import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Payload } from '@temporalio/common';
import {
  DEFAULT_THRESHOLD,
  FileBlobStore,
  PayloadStoreCodec,
  PayloadStoreError,
  REF_ENCODING,
  S3BlobStore,
  payloadStoreFromEnv,
} from '../../src/payloads';

const json = (v: unknown): Payload => ({
  metadata: { encoding: Buffer.from('json/plain') },
  data: Buffer.from(JSON.stringify(v)),
});
const tmp = () => mkdtempSync(join(tmpdir(), 'baton-store-'));

test('BATON_PAYLOAD_STORE: unset is a directory under the OS cache dir; file: URLs, absolute paths, s3: URLs and off', () => {
  const def = payloadStoreFromEnv({ XDG_CACHE_HOME: '/var/cache/u', BATON_PAYLOAD_STORE: '' })!;
  expect(def.store).toBeInstanceOf(FileBlobStore);
  expect(def.store.location).toBe('file:///var/cache/u/baton/payloads');
  expect(def.threshold).toBe(DEFAULT_THRESHOLD);
  expect(payloadStoreFromEnv({ BATON_PAYLOAD_STORE: 'file:///srv/p' })!.store.location).toBe('file:///srv/p');
  expect(payloadStoreFromEnv({ BATON_PAYLOAD_STORE: '/srv/q' })!.store.location).toBe('file:///srv/q');
  const s3 = payloadStoreFromEnv({
    BATON_PAYLOAD_STORE: 's3://baton-payloads/prod/runs',
    BATON_PAYLOAD_STORE_ENDPOINT: 'http://minio:9000',
    BATON_PAYLOAD_STORE_THRESHOLD: '65536',
  })!;
  expect(s3.store).toBeInstanceOf(S3BlobStore);
  expect(s3.store.location).toBe('s3://baton-payloads/prod/runs/ (endpoint http://minio:9000)');
  expect(s3.threshold).toBe(65536);
  expect(payloadStoreFromEnv({ BATON_PAYLOAD_STORE: 'off' })).toBeUndefined();
});

test('a bad payload store setting is refused, naming the setting', () => {
  for (const [env, msg] of [
    [{ BATON_PAYLOAD_STORE: 'relative/dir' }, /BATON_PAYLOAD_STORE=relative\/dir is not file:/],
    [{ BATON_PAYLOAD_STORE: 'ftp://host/x' }, /scheme 'ftp:' is not file: or s3:/],
    [
      { BATON_PAYLOAD_STORE: 's3://B_ad/x' },
      /bucket 'b_ad' is not an S3 bucket name|is not an S3 bucket name/,
    ],
    [{ BATON_PAYLOAD_STORE_THRESHOLD: '12kb' }, /BATON_PAYLOAD_STORE_THRESHOLD=12kb is not a whole number/],
    [
      { BATON_PAYLOAD_STORE: 's3://bucket', BATON_PAYLOAD_STORE_ENDPOINT: 'minio:9000' },
      /BATON_PAYLOAD_STORE_ENDPOINT=minio:9000 is not an http/,
    ],
  ] as const)
    expect(() => payloadStoreFromEnv(env)).toThrow(msg);
});

test('payloads from the threshold go to the store; history gets { $ref, bytes, sha256 }; small ones stay', async () => {
  const dir = tmp();
  const codec = new PayloadStoreCodec(new FileBlobStore(dir), 4096);
  const small = json('hello');
  const large = json('x'.repeat(100_000));
  const [s, l] = await codec.encode([small, large]);
  expect(s).toBe(small);
  expect(Buffer.from(l!.metadata!.encoding!).toString()).toBe(REF_ENCODING);
  const ref = JSON.parse(Buffer.from(l!.data!).toString());
  expect(ref).toEqual({
    $ref: expect.stringMatching(/^sha256\/[0-9a-f]{2}\/[0-9a-f]{64}$/),
    bytes: expect.any(Number),
    sha256: expect.any(String),
  });
  expect(l!.data!.length).toBeLessThan(200);
  const [back] = await codec.decode([l!]);
  expect(Buffer.from(back!.data!).toString()).toBe(Buffer.from(large.data!).toString());

  // An altered body is refused, and so is a missing one, naming the store.
  writeFileSync(join(dir, ref.$ref), readFileSync(join(dir, ref.$ref)).subarray(1));
  await expect(codec.decode([l!])).rejects.toThrow(/does not match its reference .* it was altered/);
  const elsewhere = new PayloadStoreCodec(new FileBlobStore(tmp()), 4096);
  await expect(elsewhere.decode([l!])).rejects.toThrow(
    /is not in the payload store at file:\/\/.*BATON_PAYLOAD_STORE/,
  );
});

/** A wire-level fake of S3's PutObject and GetObject (path-style), as MinIO answers them. */
async function fakeS3(): Promise<{
  server: Server;
  url: string;
  objects: Map<string, Buffer>;
  auth: string[];
}> {
  const objects = new Map<string, Buffer>();
  const auth: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      auth.push(String(req.headers.authorization ?? ''));
      const key = decodeURIComponent(new URL(req.url!, 'http://x').pathname);
      if (req.method === 'PUT') {
        objects.set(key, Buffer.concat(chunks));
        res.writeHead(200, { etag: '"e"' }).end();
      } else if (req.method === 'GET' && objects.has(key)) {
        const body = objects.get(key)!;
        res
          .writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length })
          .end(body);
      } else {
        res
          .writeHead(404, { 'content-type': 'application/xml' })
          .end('<?xml version="1.0"?><Error><Code>NoSuchKey</Code><Message>no such key</Message></Error>');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, objects, auth };
}

test('the S3 store puts and gets bodies under bucket/prefix with the real AWS SDK (against a wire-level fake S3)', async () => {
  const s3 = await fakeS3();
  const saved = { ...process.env };
  process.env.AWS_ACCESS_KEY_ID = 'AKIDTEST';
  process.env.AWS_SECRET_ACCESS_KEY = 'secret-test';
  try {
    const settings = payloadStoreFromEnv({
      BATON_PAYLOAD_STORE: 's3://baton-payloads/prod',
      BATON_PAYLOAD_STORE_ENDPOINT: s3.url,
    })!;
    const codec = new PayloadStoreCodec(settings.store, settings.threshold);
    const large = json('s'.repeat(50_000));
    const [ref] = await codec.encode([large]);
    const { $ref } = JSON.parse(Buffer.from(ref!.data!).toString());
    expect([...s3.objects.keys()]).toEqual([`/baton-payloads/prod/${$ref}`]);
    expect(s3.auth[0]).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDTEST\//);
    const [back] = await codec.decode([ref!]);
    expect(Buffer.from(back!.data!).equals(Buffer.from(large.data!))).toBe(true);
    s3.objects.clear();
    await expect(codec.decode([ref!])).rejects.toThrow(PayloadStoreError);
  } finally {
    process.env = saved;
    s3.server.close();
  }
});
