import { createMemoryActivities, localEmbedding } from '../../src/activities/memory';
import { PgMemoryStore } from '../../src/activities/memory-pg';
import type { EnsembleDefinition, ModelProfile } from '../../src/types';
import { startHarness, type Harness } from '../support/harness';
import { startPostgres, type TestPostgres } from '../support/postgres';

const offline: ModelProfile = { name: 'offline', provider: 'offline', model: 'offline' };
const chat: ModelProfile = { name: 'oa', provider: 'openai', model: 'gpt-test' };

let pg: TestPostgres;
let store: PgMemoryStore;
let h: Harness;
beforeAll(async () => {
  pg = await startPostgres();
  store = new PgMemoryStore(pg.url);
  h = await startHarness({ memoryStore: store });
}, 120_000);
afterAll(async () => {
  await h?.close();
  await store?.close();
  pg?.stop();
});

const mem = (id: string, text: string, scope: { namespace: string; user?: string; thread?: string }) => ({
  id,
  text,
  vector: localEmbedding(text),
  scope,
  createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, Number(id.replace(/\D/g, '') || 0))).toISOString(),
});

test('PostgreSQL store: cosine ranking in SQL (portable path), scope filters, deletion by scope', async () => {
  // Debian 12's PostgreSQL has no pgvector package: the portable path is what runs here.
  expect(await store.usesPgvector()).toBe(false);
  await store.add(mem('m1', 'alice likes tea', { namespace: 'pg', user: 'alice', thread: 't1' }));
  await store.add(mem('m2', 'alice likes green tea', { namespace: 'pg', user: 'alice', thread: 't2' }));
  await store.add(mem('m3', 'bob rides a bike', { namespace: 'pg', user: 'bob' }));
  await store.add(mem('m4', 'other namespace tea', { namespace: 'elsewhere' }));

  const q = localEmbedding('tea');
  const all = await store.search({ namespace: 'pg' }, q, 10);
  expect(all.map((m) => m.id)).toEqual(['m1', 'm2', 'm3']);
  expect(all[0]!.score).toBeCloseTo(0.57735, 4);
  expect(all[2]!.score).toBe(0);
  expect(all[0]!.scope).toEqual({ namespace: 'pg', user: 'alice', thread: 't1' });
  expect(
    (await store.search({ namespace: 'pg', user: 'alice', thread: 't2' }, q, 10)).map((m) => m.id),
  ).toEqual(['m2']);
  expect(await store.search({ namespace: 'pg' }, q, 1)).toHaveLength(1);

  expect(await store.forget({ namespace: 'pg', user: 'alice' })).toBe(2);
  expect((await store.search({ namespace: 'pg' }, q, 10)).map((m) => m.id)).toEqual(['m3']);
  expect(await store.forget({ namespace: 'pg' })).toBe(1);
  expect((await store.search({ namespace: 'elsewhere' }, q, 10)).map((m) => m.id)).toEqual(['m4']);
});

test('runs remember and recall through a worker whose store is PostgreSQL', async () => {
  const ns = `pg-run-${Date.now()}`;
  h.fake.on('Note:', (req) => ({ text: req.lastUserText.replace('Note: ', '') }));
  const def = (step: object): EnsembleDefinition => ({
    name: 'pg-memory',
    steps: [{ kind: 'agent', name: 'a', dependsOn: [], profile: chat, prompt: 'Note: {{input}}', ...step }],
  });
  await h.baton.run(def({ remember: { namespace: ns, embedding: offline } }), 'the launch code is blue', {
    runId: `pg-${Date.now()}-1`,
  });
  await h.baton.run(
    def({ recall: { query: '{{input}}', topK: 1, namespace: ns, embedding: offline } }),
    'launch code?',
    {
      runId: `pg-${Date.now()}-2`,
    },
  );
  expect(h.fake.requests[h.fake.requests.length - 1]!.system).toContain('- the launch code is blue');
  expect(await h.baton.forgetMemories({ namespace: ns })).toEqual({ deleted: 1 });
});

test('BATON_MEMORY_URL=postgres://... chooses the PostgreSQL store', async () => {
  const acts = createMemoryActivities({ env: { BATON_MEMORY_URL: pg.url } });
  await acts.rememberMemory({
    scope: { namespace: 'by-url' },
    text: 'stored in postgres',
    embedding: offline,
  });
  expect(
    (await store.search({ namespace: 'by-url' }, localEmbedding('postgres'), 1)).map((m) => m.text),
  ).toEqual(['stored in postgres']);
  expect(await store.forget({ namespace: 'by-url' })).toBe(1);
});

test('PostgreSQL restarting under a worker: the idle connections drop with a warning, not a crash, and the store keeps working', async () => {
  const warnings: string[] = [];
  const own = new PgMemoryStore(pg.url, 'baton_restart', (m) => warnings.push(m));
  try {
    await own.add(mem('r1', 'kept across a restart', { namespace: 'restart' }));
    expect(await own.search({ namespace: 'restart' }, localEmbedding('restart'), 1)).toHaveLength(1);
    // The pool now holds an idle connection; the server goes away under it (as a crash would).
    pg.restart();
    for (let i = 0; i < 200 && warnings.length === 0; i++) await new Promise((r) => setTimeout(r, 25));
    expect(warnings[0]).toMatch(
      /^memory store: an idle PostgreSQL connection closed \(.+\); the next query opens a new one$/,
    );
    expect(warnings.join('\n')).not.toContain('postgres://');
    const found = await own.search({ namespace: 'restart' }, localEmbedding('kept across a restart'), 1);
    expect(found.map((m) => m.text)).toEqual(['kept across a restart']);
  } finally {
    await own.close();
  }
}, 120_000);
