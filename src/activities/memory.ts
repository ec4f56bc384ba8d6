/**
 * Long-term memory: embeddings from the step's provider, a store behind one interface (embedded
 * LanceDB by default, PostgreSQL for clusters), and the activities that write, read and forget
 * memories. Reads and writes are activities, so their results are in history and a replay sees
 * the memories the run saw.
 */
import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type OpenAI from 'openai';
import type { MemoryScope, MemoryScopeLevel, ModelProfile, RecalledMemory } from '../types';
import { EndpointPolicy, type AllowedEndpoint } from './endpoints';
import { classifyProviderError, configFailure, toApplicationFailure, type ProviderErrorLike } from './errors';

/** Dimensions of the offline provider's local embedding. */
export const OFFLINE_DIMENSIONS = 256;

/** One memory as stored. */
export interface StoredMemory {
  id: string;
  text: string;
  vector: number[];
  scope: MemoryScope;
  source?: { runId?: string; step?: string };
  createdAt: string;
}

/** Which memories a search or a deletion covers: a namespace, and a user and thread when given. */
export interface MemoryFilter {
  namespace: string;
  user?: string;
  thread?: string;
}

/** Where memories live. Implementations: LanceMemoryStore (embedded, memory-lance.ts), PgMemoryStore (PostgreSQL). */
export interface MemoryStore {
  add(m: StoredMemory): Promise<void>;
  /** The `topK` memories closest to `vector` (cosine) among those the filter covers, closest first. */
  search(filter: MemoryFilter, vector: number[], topK: number): Promise<RecalledMemory[]>;
  /** Delete every memory the filter covers; returns how many. */
  forget(filter: MemoryFilter): Promise<number>;
  close?(): Promise<void>;
}

/** Cosine similarity; 0 when either vector is all zeros or their lengths differ. */
export function cosine(a: number[], b: number[]): number {
  if (a.length !== b.length) return 0;
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

/** Memories ordered by cosine similarity to `vector` (ties: newer first), the first `topK`. */
export function rank(memories: StoredMemory[], vector: number[], topK: number): RecalledMemory[] {
  return memories
    .map((m) => ({ m, score: cosine(m.vector, vector) }))
    .sort((a, b) => b.score - a.score || b.m.createdAt.localeCompare(a.m.createdAt))
    .slice(0, topK)
    .map(({ m, score }) => ({
      id: m.id,
      text: m.text,
      score: Math.round(score * 1e6) / 1e6,
      scope: m.scope,
      ...(m.source && { source: m.source }),
      createdAt: m.createdAt,
    }));
}

/**
 * The offline provider's embedding: words (lowercased letters and digits) hashed (FNV-1a) into
 * 256 buckets, L2-normalised. Deterministic, no network; texts that share words are close.
 */
export function localEmbedding(text: string): number[] {
  const v = new Array<number>(OFFLINE_DIMENSIONS).fill(0);
  for (const word of text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []) {
    let h = 0x811c9dc5;
    for (let i = 0; i < word.length; i++) {
      h ^= word.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    v[h % OFFLINE_DIMENSIONS]! += 1;
  }
  const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  return norm === 0 ? v : v.map((x) => x / norm);
}

/** Computes embeddings with a profile's provider; keys come from the worker's environment. */
export class Embedder {
  private readonly policy: EndpointPolicy;
  private readonly clients = new Map<string, OpenAI>();

  constructor(
    private readonly env: NodeJS.ProcessEnv = process.env,
    allowedEndpoints?: AllowedEndpoint[],
  ) {
    this.policy = EndpointPolicy.fromEnv(env, allowedEndpoints);
  }

  /** One vector per text, in order. Usage (input tokens) is what the provider reported, 0 offline. */
  async embed(
    profile: ModelProfile,
    texts: string[],
    signal?: AbortSignal,
  ): Promise<{ vectors: number[][]; tokens: number }> {
    if (profile.provider === 'offline') return { vectors: texts.map(localEmbedding), tokens: 0 };
    if (profile.provider === 'anthropic')
      throw configFailure(
        `profile '${profile.name}' is anthropic, which has no embeddings API; name an OpenAI or OpenAI-compatible profile (or offline) as memory's embedding_profile`,
      );
    const { sdkBaseURL: baseURL, keyEnv } = this.policy.check(profile);
    const apiKey = keyEnv ? this.env[keyEnv] : undefined;
    if (keyEnv && !apiKey)
      throw configFailure(
        `${keyEnv} is not set in the worker's environment, so profile '${profile.name}' cannot compute embeddings. Set it where the worker runs and restart it.`,
      );
    const cacheKey = `${baseURL ?? ''}|${apiKey ?? ''}`;
    let client = this.clients.get(cacheKey);
    if (!client) {
      // The OpenAI SDK is loaded when memory first embeds, not by every worker.
      const { default: OpenAIClient } = require('openai') as typeof import('openai');
      client = new OpenAIClient({
        apiKey: apiKey ?? 'not-needed',
        maxRetries: 0,
        ...(baseURL && { baseURL }),
      });
      this.clients.set(cacheKey, client);
    }
    try {
      const res = await client.embeddings.create(
        { model: profile.model, input: texts },
        signal ? { signal } : {},
      );
      const vectors = [...res.data].sort((a, b) => a.index - b.index).map((d) => d.embedding);
      return { vectors, tokens: res.usage?.prompt_tokens ?? 0 };
    } catch (err) {
      const e = err as ProviderErrorLike;
      const kind = `${e?.name ?? ''} ${(err as object | undefined)?.constructor?.name ?? ''}`;
      if (e?.status === undefined && !/Connection|Timeout/.test(kind)) throw err;
      const failure = toApplicationFailure(classifyProviderError(e, profile.provider));
      throw ApplicationFailure.create({
        type: failure.type ?? undefined,
        message: `embeddings (${profile.name}): ${failure.message}`,
        nonRetryable: failure.nonRetryable ?? false,
        ...(failure.nextRetryDelay != null && { nextRetryDelay: failure.nextRetryDelay }),
      });
    }
  }
}

/** What a step writes. */
export interface RememberRequest {
  scope: MemoryScope;
  text: string;
  embedding: ModelProfile;
  source?: { runId?: string; step?: string };
}

/** What a step looks up. */
export interface RecallRequest {
  scope: MemoryScope;
  level: MemoryScopeLevel;
  query: string;
  topK: number;
  embedding: ModelProfile;
}

/** A filter for the level a recall reads at: namespace; plus user; plus user and thread. */
export function filterFor(scope: MemoryScope, level: MemoryScopeLevel): MemoryFilter {
  if (level === 'namespace') return { namespace: scope.namespace };
  const need = level === 'user' ? ['user'] : ['user', 'thread'];
  for (const k of need)
    if (scope[k as 'user' | 'thread'] === undefined)
      throw ApplicationFailure.create({
        type: 'InvalidDefinition',
        nonRetryable: true,
        message: `recall at scope '${level}' needs the run's ${k}: start the run with options.memory.${k} (baton run --memory-${k} <${k}>)`,
      });
  return level === 'user'
    ? { namespace: scope.namespace, user: scope.user! }
    : { namespace: scope.namespace, user: scope.user!, thread: scope.thread! };
}

/**
 * The memory activities. `store` defaults to the embedded LanceDB store (BATON_MEMORY_DIR), or
 * PostgreSQL when BATON_MEMORY_URL is a postgres:// URL (see memory-pg.ts).
 */
export function createMemoryActivities(
  opts: { env?: NodeJS.ProcessEnv; allowedEndpoints?: AllowedEndpoint[]; store?: MemoryStore } = {},
) {
  const env = opts.env ?? process.env;
  const embedder = new Embedder(env, opts.allowedEndpoints);
  let store: MemoryStore | undefined = opts.store;
  const storeOf = async (): Promise<MemoryStore> => {
    if (store) return store;
    const url = env.BATON_MEMORY_URL;
    if (url && /^postgres(ql)?:\/\//.test(url)) {
      const { PgMemoryStore } = await import('./memory-pg');
      store = new PgMemoryStore(url);
    } else {
      const { LanceMemoryStore } = await import('./memory-lance');
      store = LanceMemoryStore.fromEnv(env);
    }
    return store;
  };
  const signal = () => {
    try {
      return Context.current().cancellationSignal;
    } catch {
      return undefined;
    }
  };

  return {
    /** Embed a step's output and store it; returns its id and the embedding's input tokens. */
    async rememberMemory(req: RememberRequest): Promise<{ id: string; tokens: number }> {
      const { vectors, tokens } = await embedder.embed(req.embedding, [req.text], signal());
      const id = randomUUID();
      await (
        await storeOf()
      ).add({
        id,
        text: req.text,
        vector: vectors[0]!,
        scope: req.scope,
        ...(req.source && { source: req.source }),
        createdAt: new Date().toISOString(),
      });
      return { id, tokens };
    },

    /** The `topK` memories closest to the query in the scope the level names. */
    async recallMemories(req: RecallRequest): Promise<{ memories: RecalledMemory[]; tokens: number }> {
      const filter = filterFor(req.scope, req.level);
      const { vectors, tokens } = await embedder.embed(req.embedding, [req.query], signal());
      return { memories: await (await storeOf()).search(filter, vectors[0]!, req.topK), tokens };
    },

    /** Delete every memory of a namespace, or of a user or thread in it. */
    async forgetMemories(filter: MemoryFilter): Promise<{ deleted: number }> {
      return { deleted: await (await storeOf()).forget(filter) };
    },
  };
}
