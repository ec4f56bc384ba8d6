/**
 * Payload encryption at rest (BATON_CODEC_KEYS): a whole run with an approval gate on a dev
 * server that keeps its data in a SQLite file; afterwards the file's bytes hold no prompt, draft
 * or output text. A control run without the codec finds them, so the check can fail. The
 * encrypted history replays with the codec's keys (also after a rotation), and not without them.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { codecFromEnv, codecServerHandlers, CodecRequestError, dataConverterFromEnv } from '../../src/codec';
import { replayHistory, fetchRunHistory } from '../../src/replay';
import { locateTemporalBinary, startDevServer, type DevServer } from '../../src/server';
import type { EnsembleDefinition, ModelProfile } from '../../src/types';
import { startHarness, workflowBundle, type Harness } from '../support/harness';
import { terminateRuns } from '../support/temporal-env';

const profile: ModelProfile = { name: 'oa', provider: 'openai', model: 'gpt-test' };
const binary = locateTemporalBinary();
// The test reads the dev server's own database file, so it needs a dev server of its own.
const maybe = 'path' in binary ? test : test.skip;

const k1 = `k1:${randomBytes(32).toString('base64')}`;
const k2 = `k2:${randomBytes(32).toString('base64')}`;

let server: DevServer | undefined;
let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
  await server?.stop();
  server = undefined;
});

const definition: EnsembleDefinition = {
  name: 'at-rest',
  steps: [
    { kind: 'agent', name: 'draft', profile, prompt: 'Draft about {{input}}', dependsOn: [] },
    {
      kind: 'approval',
      name: 'review',
      dependsOn: ['draft'],
      present: '{{steps.draft}}',
      deadline: '1h',
      onTimeout: 'reject',
    },
    { kind: 'agent', name: 'publish', profile, prompt: 'Publish: {{review}}', dependsOn: ['review'] },
  ],
};

async function eventually<T>(fn: () => Promise<T | undefined>, what: string, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  while (Date.now() < end) {
    const v = await fn().catch((e: unknown) => ((last = e), undefined));
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
}

/**
 * One run through draft, a gate listed from the memo, an approval and publish, on a fresh dev
 * server with a SQLite file; returns the texts to look for and the database's bytes afterwards.
 */
async function runOnSqlite(codecKeys: string, tag: string) {
  const dir = mkdtempSync(join(tmpdir(), 'baton-at-rest-'));
  server = await startDevServer({
    binary: (binary as { path: string }).path,
    dbFile: join(dir, 'temporal.db'),
  });
  h = await startHarness({
    codecKeys,
    temporal: {
      address: server.address,
      namespace: 'default',
      connectionOptions: { address: server.address },
    },
  });
  const texts = {
    prompt: `SECRET-PROMPT-${tag}-${randomBytes(6).toString('hex')}`,
    draft: `SECRET-DRAFT-${tag}-${randomBytes(6).toString('hex')}`,
    output: `SECRET-OUTPUT-${tag}-${randomBytes(6).toString('hex')}`,
  };
  h.fake.on('Draft about', { text: texts.draft });
  h.fake.on('Publish:', { text: texts.output });
  const { runId } = await h.baton.start(definition, texts.prompt, { runId: `at-rest-${tag}-${Date.now()}` });

  // Listing reads the memo (through the codec when there is one) and shows the draft.
  const listed = await eventually(
    async () => (await h!.baton.listPendingApprovals()).find((g) => g.runId === runId),
    'the gate in listPendingApprovals',
  );
  expect(listed).toMatchObject({ gate: 'review', ensemble: 'at-rest' });
  expect(listed.summary).toContain(texts.draft);
  await h.baton.approve(runId, { gate: 'review', by: 'alice' });
  const result = await h.baton.result(runId);
  expect(result.output).toBe(texts.output);
  // The client reads the run's input back from history (retry and fork do), through the codec.
  expect((await h.baton.runInput(runId)).input).toBe(texts.prompt);
  const history = await fetchRunHistory(h.baton.temporal, runId);

  await h.close();
  h = undefined;
  await server.stop(); // a clean stop: SQLite writes everything to its files
  server = undefined;
  const bytes = Buffer.concat(
    readdirSync(dir)
      .filter((f) => f.startsWith('temporal.db'))
      .map((f) => readFileSync(join(dir, f))),
  ).toString('latin1');
  return { texts, bytes, history, runId };
}

maybe(
  'with BATON_CODEC_KEYS, the SQLite file holds no prompt, draft or output text; without, it does',
  async () => {
    const control = await runOnSqlite('', 'plain');
    // The control run: the check below would see plain text if it were there.
    expect(control.bytes).toContain(control.texts.prompt);
    expect(control.bytes).toContain(control.texts.draft);
    expect(control.bytes).toContain(control.texts.output);

    const enc = await runOnSqlite(k1, 'enc');
    expect(enc.bytes).toContain(enc.runId); // the right file, with the run in it
    expect(enc.bytes).not.toContain(enc.texts.prompt);
    expect(enc.bytes).not.toContain(enc.texts.draft);
    expect(enc.bytes).not.toContain(enc.texts.output);
    // Not even a fragment: the prompt's random part would show in any plain copy.
    expect(enc.bytes).not.toContain(enc.texts.prompt.slice(-12));

    // The encrypted history replays with the key, also after a rotation to "k2,k1".
    const bundle = await workflowBundle();
    for (const keys of [k1, `${k2},${k1}`]) {
      const report = await replayHistory(enc.history, undefined, {
        workflowBundle: bundle,
        dataConverter: dataConverterFromEnv({ BATON_CODEC_KEYS: keys })!,
      });
      expect(report).toMatchObject({ ok: true });
    }
    // Without k1, the replay fails and says which key id is missing.
    const without = await replayHistory(enc.history, undefined, {
      workflowBundle: bundle,
      dataConverter: dataConverterFromEnv({ BATON_CODEC_KEYS: k2 })!,
    });
    expect(without.ok).toBe(false);
    expect(without.nondeterministic).toBe(false);
    expect(without.detail).toMatch(/codec key id 'k1'/);
    expect(without.detail).not.toContain(k1.slice(3));
  },
  240_000,
);

/** A tiny codec server over the handlers, as `baton api` mounts them (without its auth). */
async function startCodecServer(keys: string): Promise<{ url: string; server: Server; bodies: unknown[] }> {
  const handlers = codecServerHandlers(codecFromEnv({ BATON_CODEC_KEYS: keys })!);
  const bodies: unknown[] = [];
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (d: Buffer) => (raw += d.toString()));
    req.on('end', () => {
      const op = req.url?.endsWith('/encode') ? handlers.encode : handlers.decode;
      Promise.resolve()
        .then(() => JSON.parse(raw) as unknown)
        .then((body) => (bodies.push(body), op(body)))
        .then(
          (out) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(out)),
          (e: Error) =>
            res
              .writeHead(e instanceof CodecRequestError ? 400 : 500)
              .end(JSON.stringify({ error: e.message })),
        );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/codec`, server, bodies };
}

maybe(
  'the `temporal` CLI shows decrypted payloads through the codec server handlers; `baton replay` decrypts with BATON_CODEC_KEYS',
  async () => {
    h = await startHarness({ codecKeys: k1 });
    const prompt = `CODEC-SERVER-PROMPT-${randomBytes(6).toString('hex')}`;
    h.fake.on('Say', { text: 'fine' });
    const def: EnsembleDefinition = {
      name: 'codec-server',
      steps: [{ kind: 'agent', name: 'say', profile, prompt: 'Say {{input}}', dependsOn: [] }],
    };
    const { runId } = await h.baton.start(def, prompt, { runId: `codec-server-${Date.now()}` });
    await h.baton.result(runId);
    const codec = await startCodecServer(k1);
    try {
      const show = (...extra: string[]) =>
        promisify(execFile)(
          (binary as { path: string }).path,
          [
            'workflow',
            'show',
            '--workflow-id',
            runId,
            '--address',
            h!.address,
            '--namespace',
            h!.namespace,
            '-o',
            'json',
            ...extra,
          ],
          { maxBuffer: 64 * 1024 * 1024 },
        ).then((r) => r.stdout);
      // `-o json` prints each payload's data as base64: read them all.
      const payloadTexts = (out: string) =>
        [...out.matchAll(/"data":\s*"([A-Za-z0-9+/=]*)"/g)]
          .map((m) => Buffer.from(m[1]!, 'base64').toString('latin1'))
          .join('\n');
      const plain = await show();
      expect(plain).toContain('YmluYXJ5L2VuY3J5cHRlZA=='); // "binary/encrypted"
      expect(payloadTexts(plain)).not.toContain(prompt);
      const decoded = await show('--codec-endpoint', codec.url);
      expect(codec.bodies.length).toBeGreaterThan(0);
      expect(decoded).not.toContain('YmluYXJ5L2VuY3J5cHRlZA==');
      expect(payloadTexts(decoded)).toContain(prompt);

      // `baton replay` decrypts with BATON_CODEC_KEYS, and says which key id it lacks.
      const replay = (keys: string) =>
        promisify(execFile)(
          process.execPath,
          [join(__dirname, '..', '..', 'bin', 'baton.js'), 'replay', runId],
          {
            env: {
              PATH: process.env.PATH,
              BATON_FROM_SOURCE: '1',
              TEMPORAL_ADDRESS: h!.address,
              TEMPORAL_NAMESPACE: h!.namespace,
              BATON_CODEC_KEYS: keys,
            },
          },
        ).then(
          (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
          (e: { code: number; stdout: string; stderr: string }) => e,
        );
      const ok = await replay(`${k2},${k1}`);
      expect(ok.stdout).toMatch(/^ok: \d+ events replay/);
      expect(ok.code).toBe(0);
      const missing = await replay(k2);
      expect(missing.code).not.toBe(0);
      expect(missing.stderr).toMatch(/codec key id 'k1'/);
    } finally {
      codec.server.close();
    }
  },
);

test('a client without the key still lists runs and approvals: an encrypted run is marked unreadable, not fatal', async () => {
  h = await startHarness({ codecKeys: k1 });
  h.fake.on('Draft about', { text: 'ENCRYPTED-DRAFT' });
  const { runId } = await h.baton.start(definition, 'x', { runId: `unreadable-${Date.now()}` });
  await eventually(
    async () => (await h!.baton.listPendingApprovals()).find((g) => g.runId === runId),
    'the gate in listPendingApprovals',
  );
  // Beside it on the same server, a run of a worker and client without keys.
  const plain = await startHarness();
  plain.fake.on('Draft about', { text: 'PLAIN-DRAFT' });
  const plainDefinition: EnsembleDefinition = { ...definition, name: 'plain-beside' };
  const other = await plain.baton.start(plainDefinition, 'y', { runId: `readable-${Date.now()}` });
  try {
    const rows = await eventually(async () => {
      const r = await plain.baton.listRuns({ limit: 1000 });
      return r.some((x) => x.runId === runId) && r.some((x) => x.runId === other.runId) ? r : undefined;
    }, 'both runs in the keyless listRuns');
    const encrypted = rows.find((r) => r.runId === runId)!;
    expect(encrypted).toMatchObject({ ensemble: '', status: 'RUNNING' });
    expect(encrypted.unreadable).toMatch(/BATON_CODEC_KEYS/);
    expect(rows.find((r) => r.runId === other.runId)).toMatchObject({ ensemble: 'plain-beside' });
    expect(rows.find((r) => r.runId === other.runId)!.unreadable).toBeUndefined();
    // The keyless approvals listing goes on past the encrypted run to the plain one.
    const gates = await eventually(async () => {
      const g = await plain.baton.listPendingApprovals();
      return g.some((x) => x.runId === other.runId) ? g : undefined;
    }, "the plain run's gate in the keyless listPendingApprovals");
    expect(gates.find((g) => g.runId === other.runId)).toMatchObject({
      gate: 'review',
      ensemble: 'plain-beside',
      summary: 'PLAIN-DRAFT',
    });
    expect(gates.some((g) => g.runId === runId)).toBe(false);
    // The gauge's count still counts the encrypted run's gate, by its search attribute.
    expect(await plain.baton.countPendingApprovals({ taskQueue: h.taskQueue })).toEqual({
      runs: 1,
      gates: 1,
    });
    // `baton list` without keys shows it, marked.
    const listed = await promisify(execFile)(
      process.execPath,
      [join(__dirname, '..', '..', 'bin', 'baton.js'), 'list', '--limit', '1000'],
      {
        env: {
          PATH: process.env.PATH,
          BATON_FROM_SOURCE: '1',
          TEMPORAL_ADDRESS: h.address,
          TEMPORAL_NAMESPACE: h.namespace,
        },
        maxBuffer: 16 * 1024 * 1024,
      },
    );
    expect(listed.stdout.split('\n').find((l) => l.endsWith(` ${runId}`))).toMatch(
      /RUNNING\s+\(unreadable\)\s/,
    );
    // With the key, the same listing reads the encrypted run's ensemble.
    expect((await h.baton.listRuns({ limit: 1000 })).find((r) => r.runId === runId)).toMatchObject({
      ensemble: 'at-rest',
    });
  } finally {
    // Ended here, not cancelled: a cancel would need the workers, which close right after.
    await terminateRuns([runId, other.runId]);
    await plain.close();
  }
});
