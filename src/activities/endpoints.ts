/**
 * Where may this key go? The one place that decides which endpoints a worker calls and which key
 * variables each of them may receive. A run names a profile (provider, base_url, api_key_env), but
 * only the worker's operator decides where the worker's secrets are sent: the provider's own host,
 * the `*_BASE_URL` set in the worker's environment, and the endpoints listed in
 * `BATON_ALLOWED_ENDPOINTS` or the worker config file, each bound to the key variables it may receive.
 * Anything else fails before a request is made, with `EndpointNotAllowed`.
 */
import { readFileSync } from 'node:fs';
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { apiKeyEnvFor } from '../config/profiles';
import { ModelErrorType } from '../error-types';
import type { ModelProfile } from '../types';

/** One endpoint a worker may call, and the environment variables whose values it may receive. */
export interface AllowedEndpoint {
  /**
   * An http(s) URL. Scheme, host and port must match exactly; a path other than `/` is a prefix
   * the profile's base URL must start with (whole segments).
   */
  url: string;
  /** Key variables that may be sent there; empty: calls that carry no key only. */
  keys: string[];
  /** Where the entry comes from (`OPENAI_BASE_URL`, `BATON_ALLOWED_ENDPOINTS`, a file, ...). */
  source?: string;
}

/** The endpoints every worker allows without configuration: each provider's own host, with its own key. */
export const PROVIDER_HOSTS: readonly AllowedEndpoint[] = Object.freeze([
  { url: 'https://api.openai.com', keys: ['OPENAI_API_KEY'], source: 'the provider' },
  { url: 'https://api.anthropic.com', keys: ['ANTHROPIC_API_KEY'], source: 'the provider' },
  {
    url: 'https://generativelanguage.googleapis.com',
    keys: ['GEMINI_API_KEY', 'GOOGLE_API_KEY'],
    source: 'the provider',
  },
]);

/** The URL each SDK calls when neither the profile nor the worker's environment names one. */
const PROVIDER_DEFAULT_URL = {
  openai: 'https://api.openai.com/v1',
  anthropic: 'https://api.anthropic.com',
  gemini: 'https://generativelanguage.googleapis.com',
} as const;

const KEY_NAME = /^[A-Z_][A-Z0-9_]*$/;

/** A worker's endpoint settings (BATON_ALLOWED_ENDPOINTS, the worker config file) cannot be used; the message names the setting. */
export class EndpointSettingsError extends Error {
  override name = 'EndpointSettingsError';
}

interface Origin {
  protocol: string;
  hostname: string;
  port: string;
  /** Path without a trailing slash; '' is the root (any path). */
  path: string;
}

/** Parse an http(s) URL into what is compared; undefined when it is not one. */
function originOf(raw: string): Origin | undefined {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return undefined;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined;
  // The WHATWG parser already lower-cases the host, turns IDNs into punycode, normalises IPv4
  // spellings and resolves `.`/`..` segments; the port is made explicit so 443 and '' compare equal.
  const port = u.port || (u.protocol === 'https:' ? '443' : '80');
  return { protocol: u.protocol, hostname: u.hostname, port, path: u.pathname.replace(/\/+$/, '') };
}

/** The endpoint as it is shown in messages: scheme, host, port (when not the default) and path. */
function display(raw: string): string {
  const o = originOf(raw);
  if (!o) return raw;
  const defaultPort = o.protocol === 'https:' ? '443' : '80';
  return `${o.protocol}//${o.hostname.includes(':') ? `[${o.hostname}]` : o.hostname}${o.port === defaultPort ? '' : `:${o.port}`}${o.path}`;
}

/** Whether `target` lies at or under `allowed`: same scheme, host and port, and a whole-segment path prefix. */
function within(target: Origin, allowed: Origin): boolean {
  return (
    target.protocol === allowed.protocol &&
    target.hostname === allowed.hostname &&
    target.port === allowed.port &&
    (allowed.path === '' || target.path === allowed.path || target.path.startsWith(`${allowed.path}/`))
  );
}

/** Check one entry (from any source); `where` names the setting in the error. */
function checkEntry(e: AllowedEndpoint, where: string): AllowedEndpoint {
  const o = originOf(e.url);
  if (!o)
    throw new EndpointSettingsError(
      `${where}: '${e.url}' is not an http(s) URL; write an endpoint such as https://llm.internal:8443/v1`,
    );
  const u = new URL(e.url);
  if (u.username || u.password || u.search || u.hash)
    throw new EndpointSettingsError(
      `${where}: '${display(e.url)}…' must not carry a user, password, query or fragment (keys are named by variable, after '=')`,
    );
  for (const k of e.keys)
    if (!KEY_NAME.test(k))
      throw new EndpointSettingsError(
        `${where}: '${k}' is not the name of an environment variable (expected something like INTERNAL_API_KEY)`,
      );
  return e;
}

/**
 * Parse `BATON_ALLOWED_ENDPOINTS`: entries separated by spaces, newlines or `;`, each `URL` (calls
 * without a key) or `URL=VAR[,VAR...]` (calls carrying one of these variables' values).
 *
 * @example parseAllowedEndpoints('https://llm.internal:8443/v1=INTERNAL_API_KEY; http://127.0.0.1:11434')
 */
export function parseAllowedEndpoints(text: string, where = 'BATON_ALLOWED_ENDPOINTS'): AllowedEndpoint[] {
  return text
    .split(/[\s;]+/)
    .filter(Boolean)
    .map((entry) => {
      const eq = entry.lastIndexOf('=');
      const url = eq < 0 ? entry : entry.slice(0, eq);
      const keys =
        eq < 0
          ? []
          : entry
              .slice(eq + 1)
              .split(',')
              .filter(Boolean);
      if (eq >= 0 && keys.length === 0)
        throw new EndpointSettingsError(
          `${where}: '${entry}' has '=' but no key variable after it; write ${url}=SOME_API_KEY, or leave out '=' for an endpoint that needs no key`,
        );
      return checkEntry({ url, keys, source: where }, where);
    });
}

const workerConfigSchema = z
  .object({
    allowed_endpoints: z
      .array(
        z
          .object({
            url: z.string().min(1),
            keys: z.array(z.string()).default([]),
          })
          .strict(),
      )
      .default([]),
    // Scripts and MCP servers runs may use (docs/tools.md); read by loadWorkerSettings.
    scripts: z.record(z.string(), z.unknown()).optional(),
    mcp_servers: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

/**
 * Read a worker config file (YAML or JSON): `allowed_endpoints`, a list of `{ url, keys }`.
 *
 * @example loadWorkerConfig('/etc/baton/worker.yaml').allowedEndpoints
 */
export function loadWorkerConfig(file: string): { allowedEndpoints: AllowedEndpoint[] } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new EndpointSettingsError(`worker config ${file}: cannot read it (${(e as Error).message})`);
  }
  let data: unknown;
  try {
    data = (require('yaml') as typeof import('yaml')).parse(text) ?? {};
  } catch (e) {
    throw new EndpointSettingsError(`worker config ${file}: not valid YAML (${(e as Error).message})`);
  }
  const parsed = workerConfigSchema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new EndpointSettingsError(
      `worker config ${file}: ${issue.path.join('.') || '(top level)'}: ${issue.message}` +
        ` (expected: allowed_endpoints: [{ url: https://host:port/path, keys: [SOME_API_KEY] }])`,
    );
  }
  return {
    allowedEndpoints: parsed.data.allowed_endpoints.map((e, i) =>
      checkEntry({ url: e.url, keys: e.keys, source: file }, `worker config ${file}: allowed_endpoints.${i}`),
    ),
  };
}

/** The endpoint a profile calls and the key variable it sends there, as the worker would resolve them. */
export interface ProfileEndpoint {
  /** Undefined for the offline provider, and for an openai-compatible profile without base_url. */
  url: string | undefined;
  /** The base URL to hand the SDK: the profile's, else the worker's `*_BASE_URL`, else the SDK's default. */
  sdkBaseURL: string | undefined;
  keyEnv: string | undefined;
}

/** Where a profile's calls go from a worker with this environment, and with which key variable. */
export function endpointFor(
  profile: Pick<ModelProfile, 'provider' | 'baseURL' | 'apiKeyEnv'>,
  env: NodeJS.ProcessEnv,
): ProfileEndpoint {
  const keyEnv = apiKeyEnvFor(profile, env);
  if (profile.provider === 'offline') return { url: undefined, sdkBaseURL: undefined, keyEnv };
  const fromEnv =
    profile.provider === 'openai'
      ? env.OPENAI_BASE_URL
      : profile.provider === 'anthropic'
        ? env.ANTHROPIC_BASE_URL
        : profile.provider === 'gemini'
          ? env.GOOGLE_GEMINI_BASE_URL
          : undefined;
  const sdkBaseURL = profile.baseURL ?? (fromEnv || undefined);
  const url =
    sdkBaseURL ??
    (profile.provider === 'openai-compatible' ? undefined : PROVIDER_DEFAULT_URL[profile.provider]);
  return { url, sdkBaseURL, keyEnv };
}

/**
 * The endpoints one worker may call. Build it once per worker with `EndpointPolicy.fromEnv`; the
 * provider factory calls `check` before it builds an SDK client or reads a key.
 *
 * @example EndpointPolicy.fromEnv(process.env).check(profile) // throws EndpointNotAllowed, or returns where to call
 */
export class EndpointPolicy {
  readonly entries: readonly AllowedEndpoint[];
  private readonly parsed: { origin: Origin; keys: Set<string> }[];

  constructor(
    entries: AllowedEndpoint[],
    private readonly env: NodeJS.ProcessEnv = {},
  ) {
    // Entries from settings were checked strictly where they were parsed; here only what comparing needs.
    this.entries = entries.map((e) => {
      const where = e.source ?? 'allowed endpoints';
      if (!originOf(e.url)) throw new EndpointSettingsError(`${where}: '${e.url}' is not an http(s) URL`);
      for (const k of e.keys)
        if (!KEY_NAME.test(k))
          throw new EndpointSettingsError(`${where}: '${k}' is not the name of an environment variable`);
      return e;
    });
    this.parsed = this.entries.map((e) => ({ origin: originOf(e.url)!, keys: new Set(e.keys) }));
  }

  /**
   * What a worker with this environment allows: the providers' own hosts, OPENAI_BASE_URL (with
   * OPENAI_API_KEY), ANTHROPIC_BASE_URL (with ANTHROPIC_API_KEY) and GOOGLE_GEMINI_BASE_URL (with
   * GEMINI_API_KEY or GOOGLE_API_KEY) when set, the entries of
   * BATON_ALLOWED_ENDPOINTS, and `extra` (the worker config file's, or what a local run names).
   * Throws EndpointSettingsError when a setting is malformed, so a worker refuses to start on it.
   */
  static fromEnv(env: NodeJS.ProcessEnv, extra: AllowedEndpoint[] = []): EndpointPolicy {
    const entries: AllowedEndpoint[] = [...PROVIDER_HOSTS];
    for (const [variable, ...keys] of [
      ['OPENAI_BASE_URL', 'OPENAI_API_KEY'],
      ['ANTHROPIC_BASE_URL', 'ANTHROPIC_API_KEY'],
      ['GOOGLE_GEMINI_BASE_URL', 'GEMINI_API_KEY', 'GOOGLE_API_KEY'],
    ] as const) {
      // Set by the operator; one that is not an http(s) URL allows nothing (calls through it are refused).
      // A query (Azure's api-version) is kept by the SDK and ignored when comparing.
      const url = env[variable];
      if (url && originOf(url)) entries.push({ url, keys: [...keys], source: variable });
    }
    entries.push(...parseAllowedEndpoints(env.BATON_ALLOWED_ENDPOINTS ?? ''));
    entries.push(...extra);
    return new EndpointPolicy(entries, env);
  }

  /** Whether a call to `url`, carrying `keyEnv`'s value (or no key), is allowed. */
  allows(url: string, keyEnv: string | undefined): boolean {
    const target = originOf(url);
    if (!target) return false;
    return this.parsed.some((p) => within(target, p.origin) && (keyEnv === undefined || p.keys.has(keyEnv)));
  }

  /**
   * Where a profile's calls go, once allowed; throws a non-retryable `EndpointNotAllowed`
   * ApplicationFailure, naming the endpoint, the key variable and the setting that would allow it.
   * Nothing is read from the key variable and nothing is sent before this returns.
   */
  check(profile: Pick<ModelProfile, 'name' | 'provider' | 'baseURL' | 'apiKeyEnv'>): ProfileEndpoint {
    const resolved = endpointFor(profile, this.env);
    const { url, keyEnv } = resolved;
    if (url === undefined) return resolved; // offline, or openai-compatible without base_url (the factory says so)
    if (this.allows(url, keyEnv)) return resolved;
    throw endpointNotAllowed(profile, url, keyEnv, this.allows(url, undefined));
  }

  /** One line for logs: every allowed endpoint with the key variables it may receive. */
  summary(): string {
    return this.entries
      .map((e) => `${display(e.url)} (${e.keys.length ? e.keys.join(', ') : 'no key'})`)
      .join(', ');
  }

  /** Entries of `wanted` this policy does not already allow (what a local run adds, to say so). */
  missing<T extends AllowedEndpoint>(wanted: T[]): T[] {
    return wanted.filter((w) =>
      w.keys.length ? w.keys.some((k) => !this.allows(w.url, k)) : !this.allows(w.url, undefined),
    );
  }
}

/** The failure a run sees; it never contains a key's value, only the variable's name. */
function endpointNotAllowed(
  profile: Pick<ModelProfile, 'name' | 'provider'>,
  url: string,
  keyEnv: string | undefined,
  endpointKnown: boolean,
): ApplicationFailure {
  const where = display(url);
  const what = keyEnv
    ? endpointKnown
      ? `profile '${profile.name}' (${profile.provider}) would send ${keyEnv} to ${where}, and this worker does not hand ${keyEnv} to that endpoint`
      : `profile '${profile.name}' (${profile.provider}) would send ${keyEnv} to ${where}, an endpoint this worker does not call`
    : `profile '${profile.name}' (${profile.provider}) names ${where}, an endpoint this worker does not call (even without a key)`;
  const entry = keyEnv ? `${where}=${keyEnv}` : where;
  return ApplicationFailure.create({
    type: ModelErrorType.EndpointNotAllowed,
    nonRetryable: true,
    message:
      `${what}; nothing was sent. A worker calls only the providers' own hosts, the OPENAI_BASE_URL / ANTHROPIC_BASE_URL / GOOGLE_GEMINI_BASE_URL ` +
      `set where it runs, and the endpoints its operator allows: to allow this one, add ${entry} to BATON_ALLOWED_ENDPOINTS ` +
      `(or to allowed_endpoints in the file given to \`baton worker --config\`) on the worker and restart it.`,
  });
}

/**
 * What a set of profiles names, as allowances (for a worker that belongs to the person who wrote
 * them: `baton run` with its own local worker).
 */
export function allowancesFor(
  profiles: Pick<ModelProfile, 'name' | 'provider' | 'baseURL' | 'apiKeyEnv'>[],
  env: NodeJS.ProcessEnv,
  source: string,
): (AllowedEndpoint & { profile: string })[] {
  return profiles.flatMap((p) => {
    const { url, keyEnv } = endpointFor(p, env);
    if (url === undefined) return [];
    const entry = { url, keys: keyEnv ? [keyEnv] : [], source, profile: p.name };
    try {
      return [checkEntry(entry, source) as typeof entry];
    } catch {
      return []; // not a usable endpoint: the call fails on its own terms
    }
  });
}

export { display as displayEndpoint };
