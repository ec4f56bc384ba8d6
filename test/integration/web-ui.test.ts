/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The web UI end to end: the real Temporal server, a worker, the API serving the built page, and
 * Debian's chromium driven by playwright-core. `npm run screenshots` runs this file with
 * BATON_SCREENSHOTS=1 to refresh the pictures in docs/images/.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { z } from 'zod';
import { createTool } from '../../src/activities/tools';
import { hashKey } from '../../src/http/auth';
import { createHttpServer } from '../../src/http/server';
import { DEFAULT_UI_DIR, uiBuilt } from '../../src/http/ui';
import { launchBrowser } from '../support/browser';
import { startHarness, type Harness } from '../support/harness';
import { testTemporal } from '../support/temporal-env';

const ALICE = 'alice-key-for-the-web-ui-test';
const VIEWER = 'viewer-key-for-the-web-ui-test';
const SHOTS = process.env.BATON_SCREENSHOTS ? path.resolve(__dirname, '../../docs/images') : undefined;

/** Every amount the transfer tool was run with. */
const transfers: number[] = [];
const transfer = createTool({
  name: 'transfer',
  description: 'Send money.',
  input: z.object({ amount: z.number() }),
  requiresApproval: true,
  run: ({ amount }) => {
    transfers.push(amount);
    return `sent ${amount}`;
  },
});

let h: Harness;
let server: Server;
let base: string;
let browser: Browser;
let context: BrowserContext;

/** Build the page when it is missing or older than its sources (a checkout that skipped `npm run build`). */
function ensureUiBuilt(): void {
  const root = path.resolve(__dirname, '../../ui');
  const newest = (dir: string): number =>
    Math.max(
      ...fs
        .readdirSync(dir, { withFileTypes: true })
        .map((e) =>
          e.isDirectory() ? newest(path.join(dir, e.name)) : fs.statSync(path.join(dir, e.name)).mtimeMs,
        ),
    );
  const built = uiBuilt() ? fs.statSync(path.join(DEFAULT_UI_DIR, 'index.html')).mtimeMs : 0;
  if (built >= Math.max(newest(path.join(root, 'src')), fs.statSync(path.join(root, 'index.html')).mtimeMs))
    return;
  const r = spawnSync('npm', ['run', 'build:ui'], { cwd: path.resolve(root, '..'), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`npm run build:ui failed: ${r.stderr || r.stdout}`);
}

/** The API without keys, answering on loopback as the local user (as `baton api` does without keys). */
async function loopbackApi(): Promise<Server> {
  const open = createHttpServer(h.baton, { env: {}, localPrincipal: 'local-user' });
  await new Promise<void>((r) => open.listen(0, '127.0.0.1', r));
  return open;
}

const urlOf = (s: Server) => `http://127.0.0.1:${(s.address() as AddressInfo).port}`;

/** Wait until every one of these runs has a gate in the approvals listing. */
async function untilGatesListed(runIds: string[]): Promise<void> {
  for (;;) {
    const listed = new Set((await h.baton.listPendingApprovals()).map((g) => g.runId));
    if (runIds.every((id) => listed.has(id))) return;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Close an API server: a page still open keeps polling on its connections, so end them too. */
async function closeServer(s: Server): Promise<void> {
  const closed = new Promise((r) => s.close(r));
  s.closeAllConnections();
  await closed;
}

async function call(method: string, p: string, body?: unknown, key = ALICE) {
  const res = await fetch(`${base}${p}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as any };
}

beforeAll(async () => {
  ensureUiBuilt();
  browser = await launchBrowser();
  h = await startHarness({ tools: [transfer] });
  server = createHttpServer(h.baton, {
    keys: `alice:read,run,decide:${hashKey(ALICE)} viewer:read:${hashKey(VIEWER)}`,
    env: {},
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = urlOf(server);
}, 20 * 60_000);
afterAll(async () => {
  await browser?.close();
  if (server) await closeServer(server);
  await h?.close();
});
beforeEach(async () => {
  h.fake.reset();
  context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
});
afterEach(async () => {
  await context?.close();
});

const ensemble = (tag: string) => `
name: newsletter
profiles:
  oa: { provider: openai, model: gpt-test, pricing: { input_per_mtok: 2.5, output_per_mtok: 10 } }
default_profile: oa
agents:
  - name: draft
    prompt: "${tag} draft about {{input}}"
  - name: review
    kind: approval
    depends_on: [draft]
    deadline: 1h
  - name: publish
    depends_on: [review]
    prompt: "${tag} publish {{review}}"
`;

async function signIn(page: Page, key = ALICE): Promise<void> {
  await page.goto(`${base}/`);
  await page.locator('form.signin').waitFor();
  await page.fill('input[name=key]', key);
  await page.click('form.signin button[type=submit]');
  await page.locator('form.signin').waitFor({ state: 'detached' });
}

async function shot(page: Page, name: string): Promise<void> {
  if (!SHOTS) return;
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

test('sign in, see the run listed, edit and approve its gate in the inbox; the run completes with the edited draft', async () => {
  h.fake.on('webui draft', {
    text: 'Dear readers, this week we shipped the web page.',
    usage: { input: 12_000, output: 900 },
  });
  const runId = `webui-approve-${Date.now()}`;
  expect(
    (await call('POST', '/runs', { ensemble: ensemble('webui'), input: 'releases', runId })).status,
  ).toBe(201);

  const page = await context.newPage();
  await signIn(page);
  // / redirects to the page; the runs list shows the run, its status, who started it and its cost.
  expect(new URL(page.url()).pathname).toBe('/ui/');
  const row = page.locator(`tr[data-run="${runId}"]`);
  await row.waitFor();
  expect(await row.textContent()).toContain('newsletter');
  expect(await row.textContent()).toContain('alice');
  await page.waitForFunction(
    (id) => !document.querySelector(`tr[data-run="${id}"] td.num`)?.textContent?.includes('…'),
    runId,
  );
  // 12,000 tokens in at $2.50 and 900 out at $10 per million.
  expect(await row.locator('td.num').textContent()).toBe('$0.04');

  // The inbox shows the waiting gate with its draft and deadline.
  await page.click('nav >> text=Approvals');
  const card = page.locator(`article.gate[data-run="${runId}"]`);
  await card.waitFor();
  expect(await card.locator('pre.draft').textContent()).toContain(
    'Dear readers, this week we shipped the web page.',
  );
  expect(await card.locator('.deadline').textContent()).toMatch(/deadline in \d+ min/);
  await shot(page, 'approvals');

  // Edit and approve: the decision carries the gate's digest and is recorded as alice's.
  await card.locator('button', { hasText: 'Edit' }).click();
  await card.locator('textarea').fill('Dear readers, EDITED in the browser.');
  await card.locator('input.comment').fill('tightened');
  await card.locator('button', { hasText: 'Approve edited' }).click();
  const decided = page.locator('ul.decided li', { hasText: runId });
  await decided.waitFor();
  expect(await decided.textContent()).toMatch(/approved by alice/);

  // The run moved on: the next step got the edited draft, and the run completed.
  const result = await h.baton.result(runId);
  expect(result.status).toBe('completed');
  expect(result.output).toBe('echo: webui publish Dear readers, EDITED in the browser.');
  const pendingDigest = /sha256:[0-9a-f]{64}/;
  expect(result.decisions?.[0]?.digest).toMatch(pendingDigest);
  expect(result.decisions?.[0]).toMatchObject({
    gate: 'review',
    outcome: 'approved',
    by: 'alice',
    comment: 'tightened',
    editedDraft: 'Dear readers, EDITED in the browser.',
  });

  // The run page shows the steps, the decision and the output.
  await page.goto(`${base}/ui/#/runs/${encodeURIComponent(runId)}`);
  await page.locator('pre.final').waitFor();
  expect(await page.locator('pre.final').textContent()).toBe(result.output);
  expect(await page.locator('li.step').count()).toBe(3);
  expect(await page.locator('li.step[data-step="publish"] .badge').textContent()).toBe('completed');
  expect(await page.locator('li.step[data-step="draft"] .step-head').textContent()).toMatch(
    /gpt-test · .* in \/ .* out · \$/,
  );
  expect(await page.locator('.decision').textContent()).toMatch(/approved by alice/);
  await shot(page, 'run');
});

test('a tool gate shows the call; its arguments are edited as JSON and the tool runs with them', async () => {
  h.fake.on('pay order', (req) =>
    req.messages.some((x) => x.role === 'tool')
      ? { text: 'paid' }
      : { toolCalls: [{ name: 'transfer', arguments: { amount: 500 } }] },
  );
  const runId = `webui-tool-${Date.now()}`;
  const yaml =
    'name: payments\nprofiles: { oa: { provider: openai, model: gpt-test } }\ndefault_profile: oa\nagents:\n' +
    '  - name: pay\n    prompt: "pay order {{input}}"\n    tools: [{ name: transfer, requires_approval: true }]\n    max_iterations: 3\n';
  expect((await call('POST', '/runs', { ensemble: yaml, input: '7', runId })).status).toBe(201);
  const page = await context.newPage();
  await signIn(page);
  await page.goto(`${base}/ui/#/approvals`);
  const card = page.locator(`article.gate[data-run="${runId}"]`);
  await card.waitFor();
  expect(await card.locator('code').textContent()).toBe('transfer');
  expect(JSON.parse((await card.locator('pre.draft').textContent())!)).toEqual({ amount: 500 });
  await card.locator('button', { hasText: 'Edit' }).click();
  await card.locator('textarea').fill('{ "amount": ');
  await card.locator('button', { hasText: 'Approve edited' }).click();
  expect(await card.locator('p.error').textContent()).toMatch(/^the arguments are not valid JSON/);
  await card.locator('textarea').fill('{ "amount": 5 }');
  await card.locator('button', { hasText: 'Approve edited' }).click();
  await page.locator('ul.decided li', { hasText: runId }).waitFor();
  const result = await h.baton.result(runId);
  expect(result.output).toBe('paid');
  expect(transfers).toEqual([5]);
  expect(result.decisions?.[0]).toMatchObject({
    gate: 'pay:transfer',
    editedArguments: { amount: 5 },
    by: 'alice',
  });
});

test('reject on the run page: the run fails at the gate and the page says who decided', async () => {
  h.fake.on('webrej draft', { text: 'a draft to refuse' });
  const runId = `webui-reject-${Date.now()}`;
  await call('POST', '/runs', { ensemble: ensemble('webrej'), input: 'x', runId });
  const page = await context.newPage();
  await signIn(page);
  await page.goto(`${base}/ui/#/runs/${encodeURIComponent(runId)}`);
  const card = page.locator('article.gate');
  await card.waitFor();
  expect(await card.locator('pre.draft').textContent()).toContain('a draft to refuse');
  await card.locator('button', { hasText: 'Reject' }).click();
  await page.locator('.decision.rejected').waitFor();
  expect(await page.locator('.decision.rejected').textContent()).toMatch(/rejected by alice/);
  const progress = (await call('GET', `/runs/${runId}`)).body;
  expect(progress.decisions[0]).toMatchObject({ outcome: 'rejected', by: 'alice' });
  expect(h.fake.count((r) => r.lastUserText.startsWith('webrej publish'))).toBe(0);
});

test('retry and fork buttons start linked runs, and the new run page links back', async () => {
  const runId = `webui-fork-${Date.now()}`;
  const yaml =
    'name: forkable\nprofiles: { oa: { provider: openai, model: gpt-test } }\ndefault_profile: oa\nagents:\n' +
    '  - name: a\n    prompt: "fork one {{input}}"\n  - name: b\n    depends_on: [a]\n    prompt: "fork two {{a}}"\n';
  await call('POST', '/runs', { ensemble: yaml, input: 'first', runId });
  await h.baton.result(runId);
  const page = await context.newPage();
  await signIn(page);
  await page.goto(`${base}/ui/#/runs/${encodeURIComponent(runId)}`);
  await page.locator('pre.final').waitFor();
  // A completed run cannot be retried; it can be forked from a step with a new input.
  expect(await page.locator('button', { hasText: 'Retry' }).isDisabled()).toBe(true);
  await page.selectOption('select[aria-label="fork from step"]', 'a');
  await page.fill('input[aria-label="fork input"]', 'second');
  await page.click('button:has-text("Fork")');
  await page.locator('dd.lineage').waitFor();
  const forkId = decodeURIComponent(new URL(page.url()).hash.slice('#/runs/'.length));
  expect(await page.locator('dd.lineage').textContent()).toBe(`fork of ${runId} from step a`);
  const forked = await h.baton.result(forkId);
  expect(forked.output).toBe('echo: fork two echo: fork one second');
  expect(forked.parent).toEqual({ runId, kind: 'fork', fromStep: 'a' });
});

test('a failed run can be retried from its page', async () => {
  h.fake.on('retry two', { status: 400, message: 'bad prompt' }, { times: 1 });
  const runId = `webui-retry-${Date.now()}`;
  const yaml =
    'name: retryable\nprofiles: { oa: { provider: openai, model: gpt-test } }\ndefault_profile: oa\nagents:\n' +
    '  - name: a\n    prompt: "retry one {{input}}"\n  - name: b\n    depends_on: [a]\n    prompt: "retry two {{a}}"\n';
  await call('POST', '/runs', { ensemble: yaml, input: 'x', runId });
  await expect(h.baton.result(runId)).rejects.toThrow();
  const page = await context.newPage();
  await signIn(page);
  await page.goto(`${base}/ui/#/runs/${encodeURIComponent(runId)}`);
  await page.locator('h2', { hasText: 'Error' }).waitFor();
  expect(await page.locator('p.error').first().textContent()).toMatch(/bad prompt/);
  await page.click('button:has-text("Retry")');
  await page.locator('dd.lineage').waitFor();
  expect(await page.locator('dd.lineage').textContent()).toBe(`retry of ${runId}`);
  const retryId = decodeURIComponent(new URL(page.url()).hash.slice('#/runs/'.length));
  expect((await h.baton.result(retryId)).output).toBe('echo: retry two echo: retry one x');
  // The completed step was reused, not called again.
  expect(h.fake.count((r) => r.lastUserText === 'retry one x')).toBe(1);
});

test("a running step shows its live text from the event stream, and drops a failed attempt's text", async () => {
  h.fake.on('live slow', { text: 'late', delayMs: 60_000 });
  const runId = `webui-live-${Date.now()}`;
  const yaml =
    'name: live\nprofiles: { oa: { provider: openai, model: gpt-test } }\ndefault_profile: oa\nagents:\n' +
    '  - name: write\n    prompt: "live slow {{input}}"\n';
  await call('POST', '/runs', { ensemble: yaml, input: 'x', runId });
  const page = await context.newPage();
  // GET /runs/:id/events as the stream contract says (docs/web-ui.md): the page must show the text
  // of the attempt that goes on, not the one that failed.
  const sse = [
    { type: 'step.started', step: 'write', attempt: 1 },
    { type: 'text.delta', step: 'write', attempt: 1, text: 'lost ' },
    { type: 'step.retrying', step: 'write', attempt: 1 },
    { type: 'text.delta', step: 'write', attempt: 2, text: 'Hello, ' },
    { type: 'text.delta', step: 'write', attempt: 2, text: 'world' },
  ]
    .map(
      (e, i) =>
        `event: ${e.type}\nid: ${i + 1}\ndata: ${JSON.stringify({ id: String(i + 1), runId, ...e })}\n\n`,
    )
    .join('');
  let authorization: string | undefined;
  let resumedFrom: string | undefined;
  await page.route(`**/runs/${runId}/events`, async (route) => {
    authorization = route.request().headers().authorization;
    // A reconnect names the last event it saw; this stream has nothing after it.
    resumedFrom ??= route.request().headers()['last-event-id'];
    const resumed = route.request().headers()['last-event-id'] !== undefined;
    await route.fulfill({
      status: 200,
      headers: { 'content-type': 'text/event-stream' },
      body: resumed ? '' : sse,
    });
  });
  await signIn(page);
  await h.fake.waitFor((r) => r.lastUserText === 'live slow x');
  await page.goto(`${base}/ui/#/runs/${encodeURIComponent(runId)}`);
  const live = page.locator('li.step[data-step="write"] pre.live');
  await live.waitFor();
  await page.waitForFunction(() => document.querySelector('pre.live')?.textContent === 'Hello, world▍');
  expect(authorization).toBe(`Bearer ${ALICE}`);
  // The stream ended without the run's end: the page reconnected from the last event it saw.
  for (let i = 0; i < 50 && resumedFrom === undefined; i++) await new Promise((r) => setTimeout(r, 100));
  expect(resumedFrom).toBe('5');
  await shot(page, 'run-live');
  await h.baton.cancel(runId);
});

test('without the event stream (404) the run page polls progress', async () => {
  h.fake.on('poll gate draft', { text: 'to poll' });
  const runId = `webui-poll-${Date.now()}`;
  await call('POST', '/runs', { ensemble: ensemble('poll gate'), input: 'x', runId });
  const page = await context.newPage();
  await page.route(`**/runs/${runId}/events`, (route) =>
    route.fulfill({ status: 404, contentType: 'application/json', body: '{"error":"no route"}' }),
  );
  await signIn(page);
  await page.goto(`${base}/ui/#/runs/${encodeURIComponent(runId)}`);
  await page.locator('text=polling progress').waitFor();
  await page.locator('article.gate').waitFor();
  // Decided elsewhere (the API): the polling page sees the run move on.
  const pending = (await call('GET', `/runs/${runId}`)).body.pendingApprovals[0];
  await call('POST', `/runs/${runId}/decisions`, {
    gate: 'review',
    outcome: 'approved',
    digest: pending.digest,
  });
  await page.locator('pre.final').waitFor();
  expect(await page.locator('pre.final').textContent()).toBe('echo: poll gate publish ## draft\nto poll');
});

test('without a key the page asks to sign in, refuses a wrong key, and the API answers 401', async () => {
  const page = await context.newPage();
  await page.goto(`${base}/ui/`);
  await page.locator('form.signin').waitFor();
  expect(await page.locator('form.signin h1').textContent()).toBe('Sign in');
  expect(await page.locator('table.runs').count()).toBe(0);
  const refused = await page.evaluate(async () => (await fetch('/runs')).status);
  expect(refused).toBe(401);
  await page.fill('input[name=key]', 'not-the-key');
  await page.click('form.signin button[type=submit]');
  await page.locator('form.signin .error', { hasText: 'That key was refused.' }).waitFor();
  // The key lives in this tab's sessionStorage only: a new tab (context) asks again.
  await page.fill('input[name=key]', ALICE);
  await page.click('form.signin button[type=submit]');
  await page.locator('h1', { hasText: 'Runs' }).waitFor();
  expect(await page.evaluate(() => sessionStorage.getItem('baton.apiKey'))).toBe(ALICE);
  // Sign out forgets the key and asks again.
  await page.click('button:has-text("Sign out")');
  await page.locator('form.signin').waitFor();
  expect(await page.evaluate(() => sessionStorage.getItem('baton.apiKey'))).toBeNull();
  const other = await (await browser.newContext()).newPage();
  await other.goto(`${base}/ui/`);
  await other.locator('form.signin').waitFor();
  await other.context().close();
});

test('the runs list shows the runs of every state with who started them', async () => {
  const page = await context.newPage();
  await signIn(page);
  await page.locator('tr[data-run^="webui-"]').first().waitFor();
  const badges = await page.locator('table.runs .badge').allTextContents();
  expect(badges).toEqual(expect.arrayContaining(['completed', 'failed', 'cancelled']));
  const by = await page.locator('tr[data-run^="webui-"] td:nth-child(5)').allTextContents();
  expect(new Set(by)).toEqual(new Set(['alice']));
  // A run started now appears at the top without reloading the page.
  const latest = `webui-latest-${Date.now()}`;
  h.fake.on('latest draft', { text: 'latest', usage: { input: 4000, output: 1200 } });
  await call('POST', '/runs', { ensemble: ensemble('latest'), input: 'x', runId: latest });
  await page.locator(`tr[data-run="${latest}"]`).waitFor();
  // At the top of this test's runs (other test files share the server and may start runs meanwhile).
  const order = await page
    .locator('table.runs tbody tr[data-run^="webui-"]')
    .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-run')));
  expect(order[0]).toBe(latest);
  await page.waitForFunction(
    () => ![...document.querySelectorAll('td.num')].some((td) => td.textContent === '…'),
  );
  await shot(page, 'runs');
  await h.baton.cancel(latest);
});

test('a key with the read scope only sees the gate, and the page shows the API refusing its decision', async () => {
  h.fake.on('viewer draft', { text: 'for the viewer' });
  const runId = `webui-viewer-${Date.now()}`;
  await call('POST', '/runs', { ensemble: ensemble('viewer'), input: 'x', runId });
  const page = await context.newPage();
  await signIn(page, VIEWER);
  await page.goto(`${base}/ui/#/runs/${encodeURIComponent(runId)}`);
  const card = page.locator('article.gate');
  await card.waitFor();
  await card.locator('button', { hasText: 'Approve' }).click();
  await card.locator('p.error').waitFor();
  expect(await card.locator('p.error').textContent()).toBe(
    "key 'viewer' lacks the scope 'decide' this route needs",
  );
  expect((await call('GET', `/runs/${runId}`)).body.pendingApprovals).toHaveLength(1);
  await h.baton.cancel(runId);
});

test('an API without keys (loopback) shows the pages without a sign-in; decisions are recorded as the local user', async () => {
  const open = await loopbackApi();
  try {
    h.fake.on('local draft', { text: 'local' });
    const runId = `webui-local-${Date.now()}`;
    await call('POST', '/runs', { ensemble: ensemble('local'), input: 'x', runId });
    const page = await context.newPage();
    await page.goto(`${urlOf(open)}/ui/#/approvals`);
    const card = page.locator(`article.gate[data-run="${runId}"]`);
    await card.waitFor();
    expect(await page.locator('form.signin').count()).toBe(0);
    await card.locator('button', { hasText: 'Approve' }).click();
    await page.locator('ul.decided li', { hasText: 'approved by local-user' }).waitFor();
    expect((await h.baton.result(runId)).decisions?.[0]?.by).toBe('local-user');
  } finally {
    await closeServer(open);
  }
});

test('runs whose worker is gone do not hold back the inbox: a new gate shows beside eight of them', async () => {
  // Eight runs parked at a gate, then their worker stops: only a worker answers their progress.
  const gone = await startHarness();
  const orphans: string[] = [];
  try {
    for (let i = 0; i < 8; i++) {
      const { runId } = await gone.baton.start(
        {
          name: 'orphaned',
          steps: [
            {
              kind: 'approval',
              name: 'ok',
              dependsOn: [],
              present: `orphan ${i}`,
              deadline: '1h',
              onTimeout: 'reject',
            },
          ],
        },
        'x',
        { runId: `webui-orphan-${i}-${Date.now()}` },
      );
      orphans.push(runId);
    }
    await untilGatesListed(orphans);
  } finally {
    await gone.close();
  }
  const open = await loopbackApi();
  try {
    h.fake.on('beside draft', { text: 'beside' });
    const runId = `webui-beside-${Date.now()}`;
    await call('POST', '/runs', { ensemble: ensemble('beside'), input: 'x', runId });
    await untilGatesListed([runId]);
    const page = await context.newPage();
    // Each orphan's read waits for a worker until the API gives up on it; count those that end.
    let orphanReadsEnded = 0;
    page.on('response', (r) => {
      if (r.url().includes('/runs/webui-orphan-')) orphanReadsEnded += 1;
    });
    await page.goto(`${urlOf(open)}/ui/#/approvals`);
    const card = page.locator(`article.gate[data-run="${runId}"]`);
    await card.waitFor();
    // The new run's gate showed without waiting behind the orphans' reads.
    expect(orphanReadsEnded).toBe(0);
    await card.locator('button', { hasText: 'Approve' }).click();
    await page.locator('ul.decided li', { hasText: 'approved by local-user' }).waitFor();
    expect((await h.baton.result(runId)).output).toBeDefined();
  } finally {
    await closeServer(open);
    for (const id of orphans) await h.baton.temporal.workflow.getHandle(id).terminate('test cleanup');
  }
});

/** `baton api` on a free port until its stderr matches `until`; then SIGTERM. Returns what it printed. */
async function batonApi(
  env: NodeJS.ProcessEnv,
  until: RegExp,
  then?: (m: RegExpMatchArray) => Promise<void>,
) {
  const { address, namespace } = testTemporal();
  const child = spawn(
    process.execPath,
    [path.resolve(__dirname, '../../bin/baton.js'), 'api', '--port', '0'],
    {
      env: {
        PATH: process.env.PATH,
        BATON_FROM_SOURCE: '1',
        TEMPORAL_ADDRESS: address,
        TEMPORAL_NAMESPACE: namespace,
        ...env,
      },
    },
  );
  let stderr = '';
  const exited = new Promise<number | null>((r) => child.once('exit', r));
  const match = await new Promise<RegExpMatchArray>((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = until.exec(stderr);
      if (m) resolve(m);
    });
    void exited.then(() => reject(new Error(`baton api exited: ${stderr}`)));
  });
  try {
    await then?.(match);
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
  return stderr;
}

test('baton api says where the page is, or that it is not built and how to build it', async () => {
  await batonApi({}, /web UI at (http:\/\/\S+\/ui\/)\n/, async (m) => {
    const res = await fetch(m[1]!);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('<div id="app">');
  });
  const missing = await batonApi({ BATON_UI_DIR: path.join(__dirname, 'no-such-ui') }, /not built.*\n/);
  expect(missing).toMatch(
    /baton api: the web UI is not built \(no .*no-such-ui\/index\.html\): run `npm run build`/,
  );
});
