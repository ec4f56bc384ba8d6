/**
 * Who is calling the HTTP API, and what they may do. Keys are named (a principal) and carry
 * scopes; only their SHA-256 hashes are kept (in `BATON_API_KEYS`, a keys file, or memory), and a
 * presented key is hashed and compared with every known hash in constant time.
 *
 * A key entry is `principal:scope,scope:sha256hex`, e.g.
 * `ci-bot:read,run:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08`.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';

/** What a key may do: `read` runs and approvals, `run` (start, retry, fork, cancel), `decide` gates, or everything (`admin`). */
export const SCOPES = ['read', 'run', 'decide', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

/** One API key as the server keeps it: never the key itself, only its hash. */
export interface ApiKey {
  principal: string;
  scopes: Scope[];
  /** SHA-256 of the key, 32 bytes. */
  hash: Buffer;
}

/** A key file, variable or option the server cannot use; the message names where and what. */
export class ApiConfigError extends Error {
  override name = 'ApiConfigError';
}

const PRINCIPAL = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
const HEX64 = /^[0-9a-f]{64}$/i;

/** SHA-256 hex of a key: what a keys file or `BATON_API_KEYS` holds for it. */
export function hashKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** A new random key (43 URL-safe characters after `bk_`), to hand to one caller. */
export function generateKey(): string {
  return `bk_${randomBytes(32).toString('base64url')}`;
}

/** The entry line for a key: `principal:scopes:sha256hex`. */
export function keyEntry(principal: string, scopes: readonly Scope[], key: string): string {
  if (!PRINCIPAL.test(principal))
    throw new ApiConfigError(
      `principal '${principal}' must start with a letter or digit and hold only letters, digits and . _ @ - (at most 64)`,
    );
  for (const s of scopes)
    if (!SCOPES.includes(s))
      throw new ApiConfigError(`unknown scope '${s}'; scopes are ${SCOPES.join(', ')}`);
  return `${principal}:${scopes.join(',')}:${hashKey(key)}`;
}

/**
 * Parse key entries: one per line (or separated by `;` or whitespace), `#` starts a comment.
 *
 * @example parseKeys('alice:decide,read:' + hashKey('s3cret'), 'BATON_API_KEYS')
 */
export function parseKeys(text: string, where: string): ApiKey[] {
  const keys: ApiKey[] = [];
  const principals = new Set<string>();
  text.split('\n').forEach((line, index) => {
    const entries = line
      .replace(/#.*$/, '')
      .split(/[;\s]+/)
      .filter(Boolean);
    for (const entry of entries) {
      const at = `${where}${where.includes('BATON_') ? '' : `:${index + 1}`}`;
      const parts = entry.split(':');
      if (parts.length !== 3)
        throw new ApiConfigError(
          `${at}: a key entry is 'principal:scope,scope:sha256hex' (found ${parts.length} part(s)); make one with \`baton api keygen --principal NAME --scopes read,run\``,
        );
      const [principal, scopeList, hash] = parts as [string, string, string];
      if (!PRINCIPAL.test(principal))
        throw new ApiConfigError(
          `${at}: principal '${principal}' must start with a letter or digit and hold only letters, digits and . _ @ -`,
        );
      if (principals.has(principal))
        throw new ApiConfigError(`${at}: principal '${principal}' is listed twice`);
      principals.add(principal);
      const scopes = scopeList.split(',').filter(Boolean);
      if (scopes.length === 0) throw new ApiConfigError(`${at}: key '${principal}' has no scopes`);
      for (const s of scopes)
        if (!SCOPES.includes(s as Scope))
          throw new ApiConfigError(
            `${at}: key '${principal}' has unknown scope '${s}'; scopes are ${SCOPES.join(', ')}`,
          );
      if (!HEX64.test(hash))
        throw new ApiConfigError(
          `${at}: key '${principal}' must be stored as its SHA-256 hash (64 hex digits), not in plain text; \`baton api hash-key\` prints it`,
        );
      keys.push({ principal, scopes: scopes as Scope[], hash: Buffer.from(hash, 'hex') });
    }
  });
  return keys;
}

/** Where keys come from: a single admin token, `BATON_API_KEYS`, and a keys file. */
export interface KeySources {
  /** One admin key in plain text (`BATON_API_TOKEN`); its principal is `api-token`. */
  token?: string;
  /** Key entries (`BATON_API_KEYS`). */
  keys?: string;
  /** A file of key entries (`--keys-file` or `BATON_API_KEYS_FILE`). */
  keysFile?: string;
}

/** Every key the server accepts; empty means no authentication (loopback only). */
export function loadKeys(sources: KeySources): ApiKey[] {
  const keys: ApiKey[] = [];
  if (sources.token) keys.push({ principal: 'api-token', scopes: ['admin'], hash: sha256(sources.token) });
  if (sources.keys) keys.push(...parseKeys(sources.keys, 'BATON_API_KEYS'));
  if (sources.keysFile) {
    let text: string;
    try {
      text = fs.readFileSync(sources.keysFile, 'utf8');
    } catch (e) {
      throw new ApiConfigError(
        `cannot read the keys file ${sources.keysFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      );
    }
    keys.push(...parseKeys(text, sources.keysFile));
  }
  const seen = new Set<string>();
  for (const k of keys) {
    if (seen.has(k.principal))
      throw new ApiConfigError(
        `principal '${k.principal}' has more than one key across BATON_API_TOKEN, BATON_API_KEYS and the keys file`,
      );
    seen.add(k.principal);
  }
  return keys;
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * The key an `Authorization` header presents, or undefined. The scheme `Bearer` is matched in any
 * case; the key is hashed and compared with every known hash in constant time (no early exit).
 */
export function authenticate(header: string | undefined, keys: readonly ApiKey[]): ApiKey | undefined {
  const m = /^\s*bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!m) return undefined;
  const presented = sha256(m[1]!);
  let found: ApiKey | undefined;
  for (const k of keys) if (timingSafeEqual(presented, k.hash) && !found) found = k;
  return found;
}

/** Whether a key may do what a route needs (`admin` may do everything). */
export function allows(key: Pick<ApiKey, 'scopes'>, scope: Scope): boolean {
  return key.scopes.includes('admin') || key.scopes.includes(scope);
}

/** Whether a listening address only takes connections from this machine. */
export function isLoopback(address: string): boolean {
  const a = address.replace(/^\[|\]$/g, '').toLowerCase();
  return a === 'localhost' || a === '::1' || /^(::ffff:)?127\.\d+\.\d+\.\d+$/.test(a);
}
