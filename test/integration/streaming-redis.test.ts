/**
 * Streaming across processes through Redis Streams: two `baton worker` processes on one task
 * queue publish, a client in this process reads (docs/streaming.md). Redis is found or started
 * like the Temporal server (acquireRedis).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import Redis from 'ioredis';
import { BatonClient } from '../../src/client';
import { fanOutJoin } from '../../src/define';
import {
  acquireRedis,
  RedisEventBus,
  streamKey,
  closeSharedEventBuses,
  type RedisHandle,
  type StreamEvent,
} from '../../src/streams';
import { FakeModelServer } from '../support/fake-model-server';
import { startCliWorker, type CliWorker } from '../support/cli-worker';
import { testTemporal } from '../support/temporal-env';
import { fakeEnv, startHarness } from '../support/harness';
import { collect, words } from '../support/streams';

const BIN = join(__dirname, '..', '..', 'bin', 'baton.js');
const oa = { name: 'oa', provider: 'openai' as const, model: 'gpt-test' };

let fake: FakeModelServer;
let redis: RedisHandle;
let bus: RedisEventBus;
let workers: CliWorker[] = [];
let connection: Connection;
let baton: BatonClient;
const taskQueue = `stream-redis-${Date.now()}`;

beforeAll(async () => {
  fake = await FakeModelServer.start();
  redis = await acquireRedis({ env: { PATH: process.env.PATH } });
  bus = new RedisEventBus(redis.url);
  workers = await Promise.all(
    [1, 2].map(() =>
      startCliWorker({ taskQueue, openaiBaseURL: fake.openaiBaseURL, env: { BATON_REDIS_URL: redis.url } }),
    ),
  );
  const { namespace, connectionOptions } = testTemporal();
  connection = await Connection.connect(connectionOptions);
  baton = await BatonClient.connect({ connection, namespace, taskQueue, tracing: false, events: bus });
});
afterAll(async () => {
  for (const w of workers) w.child.kill('SIGTERM');
  await Promise.all(workers.map((w) => w.exited));
  await connection?.close();
  await bus?.close();
  await redis?.stop();
  await fake?.close();
});

test('worker processes on one task queue stream through Redis to a client in another process; a reconnect resumes by stream id', async () => {
  const branches = ['a', 'b', 'c', 'd'];
  for (const b of branches) fake.on(`branch ${b}`, { text: words(60, b), eventDelayMs: 3 });
  fake.on('join', { text: 'JOINED' });
  const def = fanOutJoin(
    'stream-redis',
    branches.map((b) => ({
      name: b,
      profile: { name: 'oa', provider: 'openai' as const, model: 'gpt-test' },
      prompt: `branch ${b} {{input}}`,
    })),
    {
      name: 'join',
      profile: { name: 'oa', provider: 'openai', model: 'gpt-test' },
      prompt: 'join {{a}}',
    },
  );
  const runId = `stream-redis-${Date.now()}`;
  const whole = collect(baton.events(runId));
  const running = baton.run(def, 'x', { runId });
  const first = await collect(baton.events(runId), 40);
  expect(first.at(-1)!.id).toMatch(/^\d+-\d+$/);
  const second = await collect(baton.events(runId, { after: first.at(-1)!.id }));
  const result = await running;
  const all = await whole;

  expect([...first, ...second].map((e) => e.id)).toEqual(all.map((e) => e.id));
  expect(all.at(-1)).toMatchObject({ type: 'run.completed', output: 'JOINED' });
  for (const b of branches) {
    const text = all
      .filter((e) => e.type === 'text.delta' && e.step === b)
      .map((e) => e.text)
      .join('');
    expect(text).toBe(result.steps.find((s) => s.name === b)!.output);
  }
  // Kept for a while, then gone: the run's stream has a TTL.
  const r = new Redis(redis.url);
  try {
    const ttl = await r.ttl(streamKey(runId));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(24 * 3600);
  } finally {
    r.disconnect();
  }
});

test("baton status --follow --events prints the run's events as JSON lines, read from Redis", async () => {
  fake.on('cli events', { text: 'alpha beta gamma' });
  const runId = `stream-redis-cli-${Date.now()}`;
  await baton.run(
    fanOutJoin('stream-redis-cli', [{ name: 'one', profile: oa, prompt: 'cli events {{input}}' }], {
      name: 'two',
      profile: oa,
      prompt: 'cli events again {{one}}',
    }),
    'x',
    { runId },
  );
  const { address, namespace } = testTemporal();
  const r = spawnSync(process.execPath, [BIN, 'status', runId, '--follow', '--events'], {
    env: {
      PATH: process.env.PATH,
      BATON_FROM_SOURCE: '1',
      TEMPORAL_ADDRESS: address,
      TEMPORAL_NAMESPACE: namespace,
      BATON_REDIS_URL: redis.url,
    },
    encoding: 'utf8',
    timeout: 120_000,
  });
  expect(r.status).toBe(0);
  const events = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as StreamEvent);
  expect(
    events
      .filter((e) => e.step === 'one' && e.type === 'text.delta')
      .map((e) => e.text)
      .join(''),
  ).toBe('alpha beta gamma');
  expect(events.at(-1)).toMatchObject({ type: 'run.completed', runId });
});

test('with Redis unreachable, model calls go on and the run completes as without streaming', async () => {
  fake.on('no redis', { text: 'still answered' });
  const h = await startHarness({
    env: (f) => ({ ...fakeEnv(f), BATON_REDIS_URL: 'redis://127.0.0.1:1' }),
  });
  try {
    h.fake.on('no redis', { text: 'still answered' });
    const res = await h.baton.run(
      fanOutJoin('stream-no-redis', [{ name: 'one', profile: oa, prompt: 'no redis {{input}}' }], {
        name: 'two',
        profile: oa,
        prompt: 'no redis {{one}}',
      }),
      'x',
      { runId: `no-redis-${Date.now()}` },
    );
    expect(res.status).toBe('completed');
    expect(res.output).toBe('still answered');
  } finally {
    await h.close();
    // The worker's bus for the dead address keeps reconnecting until closed.
    await closeSharedEventBuses();
  }
});

test('a Redis stream keeps at most about MAXLEN events, and refuses a cursor that is not a stream id', async () => {
  const small = new RedisEventBus(redis.url, { ttlSeconds: 60, maxLen: 100 });
  try {
    const runId = `trim-${Date.now()}`;
    for (let i = 0; i < 10; i++)
      await small.publish(
        runId,
        Array.from({ length: 100 }, (_, j) => ({
          runId,
          type: 'text.delta' as const,
          ts: 0,
          text: `${i}.${j}`,
        })),
      );
    const r = new Redis(redis.url);
    const len = await r.xlen(streamKey(runId));
    r.disconnect();
    expect(len).toBeGreaterThanOrEqual(100);
    expect(len).toBeLessThan(1000);
    await expect(small.read(runId, 'nonsense', { blockMs: 0 })).rejects.toThrow(/not an event id/);
  } finally {
    await small.close();
  }
});
