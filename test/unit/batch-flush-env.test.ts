import { batchFlushMsFromEnv, durabilityWindowMs } from '../../src/activities/model-batch';

test('BATON_BATCH_FLUSH_MS is whole milliseconds, 0 or more; anything else is refused by name', () => {
  expect(batchFlushMsFromEnv({})).toBeUndefined();
  expect(batchFlushMsFromEnv({ BATON_BATCH_FLUSH_MS: '0' })).toBe(0);
  expect(batchFlushMsFromEnv({ BATON_BATCH_FLUSH_MS: '250' })).toBe(250);
  expect(() => batchFlushMsFromEnv({ BATON_BATCH_FLUSH_MS: '1s' })).toThrow(/BATON_BATCH_FLUSH_MS=1s/);
  expect(() => batchFlushMsFromEnv({ BATON_BATCH_FLUSH_MS: '-5' })).toThrow(/BATON_BATCH_FLUSH_MS/);
});

test('the durability window is flush_ms plus the heartbeat throttle: 0.8 × heartbeat timeout, at most 60 s', () => {
  expect(durabilityWindowMs(1000, 30_000)).toBe(25_000);
  expect(durabilityWindowMs(0, 2000)).toBe(1600);
  expect(durabilityWindowMs(500, 10 * 60_000)).toBe(60_500);
});
