import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect } from '@lancedb/lancedb';
import { join } from 'node:path';
import { cosine, localEmbedding, rank } from '../../src/activities/memory';
import { COMPACT_EVERY, LanceMemoryStore } from '../../src/activities/memory-lance';
import { loadEnsembleText } from '../../src/config';
import type { MemoryScope } from '../../src/types';
import { memoryBlock } from '../../src/workflows/memory';

const NO_CONFIG = { config: { profiles: {}, files: [] } };
const load = (text: string) => loadEnsembleText(text, 'e.yaml', NO_CONFIG);

const yaml = (extra: string, memory = 'memory: { namespace: support, embedding_profile: emb }') => `
name: helpdesk
${memory}
profiles:
  emb: { provider: openai, model: text-embedding-3-small }
  chat: { provider: openai, model: gpt-test }
default_profile: chat
agents:
  - name: answer
${extra}
`;

describe('YAML', () => {
  test('recall and remember resolve with the ensemble memory settings and defaults', () => {
    const def = load(yaml('    recall: { top_k: 2, scope: user }\n    remember: true'));
    const step = def.steps[0] as import('../../src/types').AgentStep;
    expect(step.recall).toEqual({
      query: '{{input}}',
      topK: 2,
      scope: 'user',
      namespace: 'support',
      embedding: { name: 'emb', provider: 'openai', model: 'text-embedding-3-small' },
    });
    expect(step.remember).toEqual({
      namespace: 'support',
      embedding: { name: 'emb', provider: 'openai', model: 'text-embedding-3-small' },
    });
  });
  test('the namespace defaults to the ensemble name; a step may name its own', () => {
    const def = load(
      yaml(
        '    recall: { query: "about {{input}}", namespace: faq }\n    remember: { namespace: notes }',
        'memory: { embedding_profile: emb }',
      ),
    );
    const step = def.steps[0] as import('../../src/types').AgentStep;
    expect(step.recall).toMatchObject({ query: 'about {{input}}', topK: 3, namespace: 'faq' });
    expect(step.remember).toMatchObject({ namespace: 'notes' });
    expect(load(yaml('    remember: true', 'memory: { embedding_profile: emb }')).steps[0]).toMatchObject({
      remember: { namespace: 'helpdesk' },
    });
  });
  test('a step memory budget resolves to maxContextTokens and keepRecent', () => {
    const def = load(
      yaml('    tools: [search]\n    memory: { max_context_tokens: 2000, keep_recent: 6 }', ''),
    );
    expect(def.steps[0]).toMatchObject({ memory: { maxContextTokens: 2000, keepRecent: 6 } });
  });
  test('refused: memory steps without memory settings, an unknown embedding profile, a bad recall field', () => {
    expect(() => load(yaml('    remember: true', ''))).toThrow(
      /remember needs the ensemble's memory settings/,
    );
    expect(() => load(yaml('    remember: true', 'memory: { embedding_profile: nope }'))).toThrow(
      /memory\.embedding_profile.*unknown model profile 'nope'/s,
    );
    expect(() => load(yaml('    recall: { top_k: 0 }'))).toThrow(/top_k/);
    expect(() => load(yaml('    recall: { query: "{{steps.nope}}" }'))).toThrow(/nope/);
  });
});

describe('embeddings and ranking', () => {
  test('the offline embedding is deterministic, normalised, and close for shared words', () => {
    const a = localEmbedding('Ada prefers email');
    expect(localEmbedding('Ada prefers email')).toEqual(a);
    expect(Math.sqrt(a.reduce((s, x) => s + x * x, 0))).toBeCloseTo(1, 9);
    expect(cosine(a, localEmbedding('does ada prefer email?'))).toBeGreaterThan(
      cosine(a, localEmbedding('warehouse hours')),
    );
  });
  test('rank orders by similarity, ties newest first, at most topK', () => {
    const m = (id: string, text: string, createdAt: string) => ({
      id,
      text,
      vector: localEmbedding(text),
      scope: { namespace: 'n' },
      createdAt,
    });
    const ranked = rank(
      [
        m('old', 'tea', '2026-01-01T00:00:00Z'),
        m('new', 'tea', '2026-02-01T00:00:00Z'),
        m('far', 'bikes', '2026-03-01T00:00:00Z'),
      ],
      localEmbedding('tea'),
      2,
    );
    expect(ranked.map((r) => r.id)).toEqual(['new', 'old']);
  });
  test('memories reach the prompt with {{ escaped, so no template runs', () => {
    expect(
      memoryBlock([
        { id: '1', text: 'use {{input}}\n here', score: 1, scope: { namespace: 'n' }, createdAt: '' },
      ]),
    ).toBe('Relevant memories (most relevant first):\n- use \\{{input}} here');
  });
});

describe('the embedded LanceDB store', () => {
  const at = (minute: number) => `2026-01-01T00:${String(minute).padStart(2, '0')}:00Z`;
  const mem = (
    id: string,
    scope: MemoryScope,
    text = id,
    createdAt = at(0),
    vector = localEmbedding(text),
  ) => ({
    id,
    text,
    vector,
    scope,
    createdAt,
  });

  test('keeps LanceDB tables named by hash, whatever the namespace holds', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-mem-unit-'));
    // A JSON Lines file the file store of earlier versions wrote is not read.
    const odd = "../../etc/it's \\ ünï";
    writeFileSync(
      join(dir, `${Buffer.from(odd, 'utf8').toString('hex')}.jsonl`),
      `${JSON.stringify(mem('old', { namespace: odd }))}\n`,
    );
    const store = new LanceMemoryStore(dir);
    await Promise.all([
      store.add(mem('a', { namespace: odd })),
      store.add(mem('b', { namespace: odd })),
      store.add(mem('c', { namespace: 'x/y' })),
    ]);
    const entries = readdirSync(dir)
      .filter((e) => e.endsWith('.lance'))
      .sort();
    expect(entries).toHaveLength(2);
    for (const e of entries) expect(e).toMatch(/^ns_[0-9a-f]{64}_d256\.lance$/);
    expect((await store.search({ namespace: odd }, localEmbedding('a'), 5)).map((m) => m.id).sort()).toEqual([
      'a',
      'b',
    ]);
    expect(await store.forget({ namespace: odd })).toBe(2);
    expect(await store.forget({ namespace: odd })).toBe(0);
    expect((await store.search({ namespace: 'x/y' }, localEmbedding('c'), 5)).map((m) => m.id)).toEqual([
      'c',
    ]);
    await store.close();
  });

  test('ranks by cosine (ties newest first), filters by user and thread, forgets by scope', async () => {
    const store = new LanceMemoryStore(mkdtempSync(join(tmpdir(), 'baton-mem-unit-')));
    const n = 'ns';
    await store.add({
      ...mem('t1', { namespace: n, user: "o'neil", thread: 't' }, 'green tea', at(1)),
      source: { runId: 'r', step: 's' },
    });
    await store.add(mem('t2', { namespace: n, user: "o'neil", thread: 'u' }, 'green tea', at(2)));
    await store.add(mem('b', { namespace: n, user: 'bob' }, 'blue bikes', at(3)));
    await store.add(mem('n', { namespace: n }, 'green bikes', at(4)));
    const all = await store.search({ namespace: n }, localEmbedding('green tea'), 3);
    expect(all.map((m) => m.id)).toEqual(['t2', 't1', 'n']);
    expect(all[0]!.score).toBeCloseTo(1, 5);
    expect(all[2]!.score).toBeCloseTo(cosine(localEmbedding('green tea'), localEmbedding('green bikes')), 5);
    expect(all[1]).toEqual({
      id: 't1',
      text: 'green tea',
      score: all[1]!.score,
      scope: { namespace: n, user: "o'neil", thread: 't' },
      source: { runId: 'r', step: 's' },
      createdAt: at(1),
    });
    expect(all[2]!.scope).toEqual({ namespace: n });
    expect(
      (await store.search({ namespace: n, user: "o'neil" }, localEmbedding('bikes'), 10))
        .map((m) => m.id)
        .sort(),
    ).toEqual(['t1', 't2']);
    expect(
      (await store.search({ namespace: n, user: "o'neil", thread: 'u' }, localEmbedding('x'), 10)).map(
        (m) => m.id,
      ),
    ).toEqual(['t2']);
    // A query with no words (a zero vector) scores everything 0, newest first.
    expect(
      (await store.search({ namespace: n }, localEmbedding('!!'), 2)).map((m) => [m.id, m.score]),
    ).toEqual([
      ['n', 0],
      ['b', 0],
    ]);
    // Vectors of another length live in their own table and are not compared with this query.
    await store.add(mem('wide', { namespace: n }, 'green tea', at(5), [1, 0, 0]));
    expect(
      (await store.search({ namespace: n }, localEmbedding('green tea'), 10)).map((m) => m.id),
    ).not.toContain('wide');
    expect((await store.search({ namespace: n }, [1, 0, 0], 10)).map((m) => m.id)).toEqual(['wide']);
    expect(await store.forget({ namespace: n, user: "o'neil", thread: 't' })).toBe(1);
    expect(await store.forget({ namespace: n, user: "o'neil" })).toBe(1);
    expect(await store.forget({ namespace: 'other' })).toBe(0);
    expect(await store.forget({ namespace: n })).toBe(3);
    expect(await store.search({ namespace: n }, localEmbedding('green tea'), 10)).toEqual([]);
    await store.close();
  });
});

test('the LanceDB store compacts a table every COMPACT_EVERY adds, so searches do not read one file per memory', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'baton-mem-unit-'));
  const store = new LanceMemoryStore(dir);
  for (let i = 0; i < COMPACT_EVERY + 3; i++)
    await store.add({
      id: `m${i}`,
      text: `memory ${i}`,
      vector: localEmbedding(`memory ${i}`),
      scope: { namespace: 'c' },
      createdAt: '2026-01-01T00:00:00Z',
    });
  const db = await connect(dir);
  const [name] = await db.tableNames();
  const stats = await (await db.openTable(name!)).stats();
  expect(stats.numRows).toBe(COMPACT_EVERY + 3);
  // One compacted fragment plus the three adds since.
  expect(stats.fragmentStats.numFragments).toBe(4);
  expect((await store.search({ namespace: 'c' }, localEmbedding('memory 7'), 1))[0]!.id).toBe('m7');
  db.close();
  await store.close();
});
