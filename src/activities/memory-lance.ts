/**
 * The embedded memory store: LanceDB (an embedded vector database, Apache-2.0, native binary from
 * npm) in a directory on the worker's disk. No server to run; searches are exact cosine over the
 * namespace (no ANN index is built), done by LanceDB's engine rather than in JavaScript.
 */
import { createHash } from 'node:crypto';
import * as os from 'node:os';
import * as path from 'node:path';
import * as lancedb from '@lancedb/lancedb';
import { Field, FixedSizeList, Float32, Schema, Utf8 } from 'apache-arrow';
import type { RecalledMemory } from '../types';
import type { MemoryFilter, MemoryStore, StoredMemory } from './memory';

/** Adds to one table between compactions (LanceDB `optimize`) in one process. */
export const COMPACT_EVERY = 64;

/** A string as a SQL literal (single quotes doubled), for LanceDB filters. */
const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;

/** The SQL predicate for the memories a filter covers (the namespace is the table's). */
function predicate(f: MemoryFilter): string {
  const parts = [`namespace = ${lit(f.namespace)}`];
  if (f.user !== undefined) parts.push(`scope_user = ${lit(f.user)}`);
  if (f.thread !== undefined) parts.push(`scope_thread = ${lit(f.thread)}`);
  return parts.join(' AND ');
}

interface Row {
  id: string;
  text: string;
  vector: number[];
  namespace: string;
  scope_user: string | null;
  scope_thread: string | null;
  source: string | null;
  created_at: string;
}

/**
 * One LanceDB table per namespace and vector length (`ns_<sha256 of the namespace>_d<dims>`), so
 * a namespace's name never reaches the file system and vectors of one table are comparable.
 * A search reads only the table of the query's length: memories embedded by a model with other
 * dimensions are not returned (their cosine with the query has no meaning). Changes from one
 * worker process are serialised. For one worker, or workers sharing a disk one at a time;
 * workers on several machines need PgMemoryStore.
 */
export class LanceMemoryStore implements MemoryStore {
  private db?: Promise<lancedb.Connection>;
  private queue: Promise<unknown> = Promise.resolve();
  /** Adds per table since this process last compacted it. */
  private readonly adds = new Map<string, number>();

  constructor(readonly dir: string) {}

  /** The store BATON_MEMORY_DIR names, else `~/.local/share/baton/memory`. */
  static fromEnv(env: NodeJS.ProcessEnv = process.env): LanceMemoryStore {
    return new LanceMemoryStore(
      env.BATON_MEMORY_DIR || path.join(os.homedir(), '.local', 'share', 'baton', 'memory'),
    );
  }

  private conn(): Promise<lancedb.Connection> {
    this.db ??= lancedb.connect(this.dir);
    return this.db;
  }

  private static prefix(namespace: string): string {
    return `ns_${createHash('sha256').update(namespace, 'utf8').digest('hex')}_d`;
  }

  /** The namespace's tables (one per vector length). */
  private async tables(namespace: string): Promise<string[]> {
    const prefix = LanceMemoryStore.prefix(namespace);
    return (await (await this.conn()).tableNames()).filter((n) => n.startsWith(prefix));
  }

  /** One change at a time in this process (table creation and deletes never race). */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn);
    this.queue = next.catch(() => {});
    return next;
  }

  add(m: StoredMemory): Promise<void> {
    return this.serial(async () => {
      const db = await this.conn();
      const name = `${LanceMemoryStore.prefix(m.scope.namespace)}${m.vector.length}`;
      const row: Row = {
        id: m.id,
        text: m.text,
        vector: m.vector,
        namespace: m.scope.namespace,
        scope_user: m.scope.user ?? null,
        scope_thread: m.scope.thread ?? null,
        source: m.source ? JSON.stringify(m.source) : null,
        created_at: m.createdAt,
      };
      const table = (await db.tableNames()).includes(name)
        ? await db.openTable(name)
        : await db.createEmptyTable(name, schema(m.vector.length), { mode: 'create', existOk: true });
      await table.add([row as unknown as Record<string, unknown>]);
      // Each add writes a small data file; searches slow down as they pile up. Compact now and then.
      const n = (this.adds.get(name) ?? 0) + 1;
      this.adds.set(name, n % COMPACT_EVERY);
      if (n >= COMPACT_EVERY) await table.optimize();
    });
  }

  search(filter: MemoryFilter, vector: number[], topK: number): Promise<RecalledMemory[]> {
    return this.serial(async () => {
      const name = `${LanceMemoryStore.prefix(filter.namespace)}${vector.length}`;
      if (!(await this.tables(filter.namespace)).includes(name)) return [];
      const table = await (await this.conn()).openTable(name);
      const zero = vector.every((x) => x === 0);
      // A zero query has no direction: every memory scores 0, newest first (as cosine() says).
      const rows = (
        zero
          ? await table.query().where(predicate(filter)).toArray()
          : await table
              .vectorSearch(vector)
              .distanceType('cosine')
              .where(predicate(filter))
              .limit(topK)
              .toArray()
      ) as Array<Row & { _distance?: number }>;
      return rows
        .map((r) => {
          const d = Number(r._distance);
          const score = zero || !Number.isFinite(d) ? 0 : Math.round((1 - d) * 1e6) / 1e6;
          return { r, score };
        })
        .sort((a, b) => b.score - a.score || b.r.created_at.localeCompare(a.r.created_at))
        .slice(0, topK)
        .map(({ r, score }) => ({
          id: r.id,
          text: r.text,
          score,
          scope: {
            namespace: r.namespace,
            ...(r.scope_user != null && { user: r.scope_user }),
            ...(r.scope_thread != null && { thread: r.scope_thread }),
          },
          ...(r.source != null && { source: JSON.parse(r.source) as RecalledMemory['source'] }),
          createdAt: r.created_at,
        }));
    });
  }

  forget(filter: MemoryFilter): Promise<number> {
    return this.serial(async () => {
      const db = await this.conn();
      let deleted = 0;
      for (const name of await this.tables(filter.namespace))
        deleted += (await (await db.openTable(name)).delete(predicate(filter))).numDeletedRows;
      return deleted;
    });
  }

  async close(): Promise<void> {
    const db = this.db;
    this.db = undefined;
    if (db) (await db).close();
  }
}

function schema(dims: number): Schema {
  return new Schema([
    new Field('id', new Utf8(), false),
    new Field('text', new Utf8(), false),
    new Field('vector', new FixedSizeList(dims, new Field('item', new Float32(), true)), false),
    new Field('namespace', new Utf8(), false),
    new Field('scope_user', new Utf8(), true),
    new Field('scope_thread', new Utf8(), true),
    new Field('source', new Utf8(), true),
    new Field('created_at', new Utf8(), false),
  ]);
}
