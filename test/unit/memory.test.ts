import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cosine, FileMemoryStore, localEmbedding, rank } from '../../src/activities/memory';
import { loadEnsembleText } from '../../src/config';
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

test('the file store keeps one file per namespace, whatever the namespace holds', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'baton-mem-unit-'));
  const store = new FileMemoryStore(dir);
  const add = (id: string, namespace: string) =>
    store.add({
      id,
      text: id,
      vector: localEmbedding(id),
      scope: { namespace },
      createdAt: '2026-01-01T00:00:00Z',
    });
  await Promise.all([add('a', '../../etc'), add('b', '../../etc'), add('c', 'x/y')]);
  expect(readdirSync(dir).sort()).toHaveLength(2);
  expect(
    (await store.search({ namespace: '../../etc' }, localEmbedding('a'), 5)).map((m) => m.id).sort(),
  ).toEqual(['a', 'b']);
  expect(await store.forget({ namespace: '../../etc' })).toBe(2);
  expect(await store.forget({ namespace: '../../etc' })).toBe(0);
});
