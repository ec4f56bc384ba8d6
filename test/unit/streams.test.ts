import { acquireRedis, MemoryEventBus, retentionFromEnv, type NewStreamEvent } from '../../src/streams';

const ev = (i: number): NewStreamEvent => ({ runId: 'r', type: 'text.delta', ts: 0, text: String(i) });

test('the in-process bus keeps at most maxLen events a run, resumes after an id, and refuses a foreign cursor', async () => {
  const bus = new MemoryEventBus({ ttlSeconds: 60, maxLen: 10 });
  await bus.publish(
    'r',
    Array.from({ length: 25 }, (_, i) => ev(i)),
  );
  const all = await bus.read('r', undefined, { blockMs: 0 });
  expect(all.map((e) => e.text)).toEqual(Array.from({ length: 10 }, (_, i) => String(i + 15)));
  expect((await bus.read('r', all[4]!.id, { blockMs: 0 })).map((e) => e.text)).toEqual([
    '20',
    '21',
    '22',
    '23',
    '24',
  ]);
  await expect(bus.read('r', '1700000000000-0', { blockMs: 0 })).rejects.toThrow(
    /not an event id of this stream/,
  );
});

test('the in-process bus records an event with a key once', async () => {
  const bus = new MemoryEventBus();
  await bus.publishOnce('r', 'run.end', { runId: 'r', type: 'run.completed', ts: 0 });
  await bus.publishOnce('r', 'run.end', { runId: 'r', type: 'run.completed', ts: 0 });
  expect(await bus.read('r', undefined, { blockMs: 0 })).toHaveLength(1);
});

test('stream retention comes from BATON_STREAM_TTL_SECONDS and BATON_STREAM_MAXLEN, and bad values are named', () => {
  expect(retentionFromEnv({})).toEqual({ ttlSeconds: 86400, maxLen: 50000 });
  expect(retentionFromEnv({ BATON_STREAM_TTL_SECONDS: '60', BATON_STREAM_MAXLEN: '100' })).toEqual({
    ttlSeconds: 60,
    maxLen: 100,
  });
  expect(() => retentionFromEnv({ BATON_STREAM_MAXLEN: 'lots' })).toThrow(
    'BATON_STREAM_MAXLEN=lots is not a positive whole number',
  );
});

test('without BATON_REDIS_URL or redis-server, acquireRedis says in one line what to install', async () => {
  await expect(acquireRedis({ env: { PATH: '' }, install: false })).rejects.toThrow(
    /^no Redis for cross-process streams: set BATON_REDIS_URL=redis:\/\/host:6379, or install redis-server/,
  );
  const found = await acquireRedis({ env: { BATON_REDIS_URL: 'redis://example:6379' } });
  expect(found).toMatchObject({ url: 'redis://example:6379', source: 'env' });
});
