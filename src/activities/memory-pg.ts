/**
 * The PostgreSQL memory store, for workers on several machines. It uses pgvector when the server
 * has it (`CREATE EXTENSION vector` succeeds); otherwise the portable path: vectors as float8
 * arrays and cosine similarity computed in SQL.
 */
import { Pool } from 'pg';
import type { RecalledMemory } from '../types';
import type { MemoryFilter, MemoryStore, StoredMemory } from './memory';

/** Table name: letters, digits and _ only (it is written into SQL). */
const TABLE = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

export class PgMemoryStore implements MemoryStore {
  private readonly pool: Pool;
  private ready?: Promise<boolean>;

  /**
   * `url`: postgres://user@host:port/db (BATON_MEMORY_URL). `table` default `baton_memories`.
   * `warn` receives a line when an idle connection drops (the server restarted or closed it);
   * default: a process warning. The pool drops that connection and the next query opens a new one.
   */
  constructor(
    url: string,
    private readonly table = 'baton_memories',
    warn: (message: string) => void = (m) => process.emitWarning(m, 'Baton'),
  ) {
    if (!TABLE.test(table)) throw new Error(`memory table '${table}' holds only letters, digits and _`);
    this.pool = new Pool({ connectionString: url, max: 4, allowExitOnIdle: true });
    // Without a listener, an idle connection's error (PostgreSQL restarting) would crash the worker.
    this.pool.on('error', (err) =>
      warn(
        `memory store: an idle PostgreSQL connection closed (${err.message}); the next query opens a new one`,
      ),
    );
  }

  /** Whether this store uses pgvector (after the first use). */
  async usesPgvector(): Promise<boolean> {
    return this.init();
  }

  private init(): Promise<boolean> {
    this.ready ??= (async () => {
      let pgvector = false;
      try {
        await this.pool.query('CREATE EXTENSION IF NOT EXISTS vector');
        pgvector = true;
      } catch {
        // No pgvector on this server: the portable path.
      }
      await this.pool.query(
        `CREATE TABLE IF NOT EXISTS ${this.table} (
           id text PRIMARY KEY, namespace text NOT NULL, user_id text, thread_id text,
           text text NOT NULL, vec float8[] NOT NULL, norm float8 NOT NULL,
           ${pgvector ? 'embedding vector,' : ''}
           source jsonb, created_at timestamptz NOT NULL)`,
      );
      await this.pool.query(
        `CREATE INDEX IF NOT EXISTS ${this.table}_scope ON ${this.table} (namespace, user_id, thread_id)`,
      );
      if (pgvector) {
        // A table made on a server without pgvector gains the column once the extension is there.
        await this.pool.query(`ALTER TABLE ${this.table} ADD COLUMN IF NOT EXISTS embedding vector`);
      }
      return pgvector;
    })();
    this.ready.catch(() => (this.ready = undefined));
    return this.ready;
  }

  async add(m: StoredMemory): Promise<void> {
    const pgvector = await this.init();
    const norm = Math.sqrt(m.vector.reduce((s, x) => s + x * x, 0));
    await this.pool.query(
      `INSERT INTO ${this.table} (id, namespace, user_id, thread_id, text, vec, norm, ${pgvector ? 'embedding, ' : ''}source, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, ${pgvector ? '$10::vector, ' : ''}$8, $9)`,
      [
        m.id,
        m.scope.namespace,
        m.scope.user ?? null,
        m.scope.thread ?? null,
        m.text,
        m.vector,
        norm,
        m.source ? JSON.stringify(m.source) : null,
        m.createdAt,
        ...(pgvector ? [`[${m.vector.join(',')}]`] : []),
      ],
    );
  }

  private where(f: MemoryFilter, params: unknown[]): string {
    const parts = [`namespace = $${params.push(f.namespace)}`];
    if (f.user !== undefined) parts.push(`user_id = $${params.push(f.user)}`);
    if (f.thread !== undefined) parts.push(`thread_id = $${params.push(f.thread)}`);
    return parts.join(' AND ');
  }

  async search(filter: MemoryFilter, vector: number[], topK: number): Promise<RecalledMemory[]> {
    const pgvector = await this.init();
    const params: unknown[] = [];
    const where = this.where(filter, params);
    const qnorm = Math.sqrt(vector.reduce((s, x) => s + x * x, 0)) || 1;
    let score: string;
    if (pgvector) {
      score = `1 - (embedding <=> $${params.push(`[${vector.join(',')}]`)}::vector)`;
    } else {
      const v = params.push(vector);
      const n = params.push(qnorm);
      score = `(SELECT coalesce(sum(a * b), 0) FROM unnest(vec, $${v}::float8[]) AS t(a, b)) / nullif(norm * $${n}, 0)`;
    }
    const limit = params.push(topK);
    const res = await this.pool.query(
      `SELECT id, namespace, user_id, thread_id, text, source, created_at, coalesce(${score}, 0) AS score
         FROM ${this.table} WHERE ${where} ORDER BY score DESC, created_at DESC LIMIT $${limit}`,
      params,
    );
    return res.rows.map((r: Record<string, unknown>) => ({
      id: r.id as string,
      text: r.text as string,
      score: Math.round(Number(r.score) * 1e6) / 1e6,
      scope: {
        namespace: r.namespace as string,
        ...(r.user_id !== null && { user: r.user_id as string }),
        ...(r.thread_id !== null && { thread: r.thread_id as string }),
      },
      ...(r.source !== null && { source: r.source as RecalledMemory['source'] }),
      createdAt: (r.created_at as Date).toISOString(),
    }));
  }

  async forget(filter: MemoryFilter): Promise<number> {
    await this.init();
    const params: unknown[] = [];
    const res = await this.pool.query(
      `DELETE FROM ${this.table} WHERE ${this.where(filter, params)}`,
      params,
    );
    return res.rowCount ?? 0;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
