/**
 * The payload store: where large values (step outputs, tool observations, conversations) live so
 * that workflow history holds only a small reference `{ $ref, bytes, sha256 }` to them. One
 * interface, a filesystem store for one machine, an S3-compatible store for clusters (./s3.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';

/** What history holds in place of a large value: where it is, its size and its SHA-256 (hex). */
export interface PayloadRef {
  /** The key of the body in the payload store (relative, so a store can move). */
  $ref: string;
  bytes: number;
  sha256: string;
}

/** A store of immutable bodies by key. Bodies are written once and never changed. */
export interface BlobStore {
  /** Where the store is, for error messages (never credentials). */
  readonly location: string;
  put(key: string, body: Uint8Array): Promise<void>;
  /** The body, or undefined when no body has that key. */
  get(key: string): Promise<Uint8Array | undefined>;
}

/** The payload store is misconfigured, or a referenced body is missing or altered; the message says which and where. */
export class PayloadStoreError extends Error {
  override name = 'PayloadStoreError';
}

/** Store `body` under its SHA-256 and return its reference (the same body always gets the same key). */
export async function putBody(store: BlobStore, body: Uint8Array): Promise<PayloadRef> {
  const sha256 = createHash('sha256').update(body).digest('hex');
  const $ref = `sha256/${sha256.slice(0, 2)}/${sha256}`;
  await store.put($ref, body);
  return { $ref, bytes: body.length, sha256 };
}

/** Read a referenced body and check its size and SHA-256. */
export async function getBody(store: BlobStore, ref: PayloadRef): Promise<Uint8Array> {
  const body = await store.get(ref.$ref);
  if (body === undefined)
    throw new PayloadStoreError(
      `payload ${ref.$ref} (${ref.bytes} bytes) is not in the payload store at ${store.location}: ` +
        'point BATON_PAYLOAD_STORE at the store the workers write to (docs/operations.md#payload-store)',
    );
  const sha = createHash('sha256').update(body).digest('hex');
  if (body.length !== ref.bytes || sha !== ref.sha256)
    throw new PayloadStoreError(
      `payload ${ref.$ref} in the payload store at ${store.location} does not match its reference ` +
        `(${body.length} bytes, sha256 ${sha}; history says ${ref.bytes} bytes, sha256 ${ref.sha256}): it was altered`,
    );
  return body;
}

/** Is this value a payload reference? */
export function isPayloadRef(v: unknown): v is PayloadRef {
  const r = v as PayloadRef | undefined;
  return (
    typeof r === 'object' &&
    r !== null &&
    typeof r.$ref === 'string' &&
    typeof r.bytes === 'number' &&
    typeof r.sha256 === 'string'
  );
}

/**
 * Bodies as files under a directory: for one machine (or a shared filesystem). A write goes to a
 * temporary file first and is renamed into place, so a reader never sees half a body.
 *
 * @example new FileBlobStore('/var/lib/baton/payloads')
 */
export class FileBlobStore implements BlobStore {
  constructor(readonly dir: string) {
    if (!path.isAbsolute(dir))
      throw new PayloadStoreError(`payload store directory '${dir}' is not an absolute path`);
  }

  get location(): string {
    return `file://${this.dir}`;
  }

  private fileOf(key: string): string {
    if (!/^[A-Za-z0-9/_.-]+$/.test(key) || key.split('/').includes('..'))
      throw new PayloadStoreError(`payload key '${key}' is not a store key`);
    return path.join(this.dir, key);
  }

  async put(key: string, body: Uint8Array): Promise<void> {
    const file = this.fileOf(key);
    await mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
    await writeFile(tmp, body);
    await rename(tmp, file);
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      return await readFile(this.fileOf(key));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }
}

/** The default directory: `$XDG_CACHE_HOME/baton/payloads`, else `~/.cache/baton/payloads` (macOS: ~/Library/Caches). */
export function defaultPayloadDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CACHE_HOME;
  if (xdg && path.isAbsolute(xdg)) return path.join(xdg, 'baton', 'payloads');
  const home = env.HOME || os.homedir();
  const base =
    process.platform === 'darwin' ? path.join(home, 'Library', 'Caches') : path.join(home, '.cache');
  return path.join(base, 'baton', 'payloads');
}
