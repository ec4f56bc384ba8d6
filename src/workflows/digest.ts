/**
 * A deterministic digest of what a gate shows, computable in workflow code (no Node crypto in
 * the workflow sandbox; @noble/hashes is pure JS): SHA-256 over UTF-8, of a text or of canonical JSON (keys sorted), as
 * lowercase hex. Clients compute nothing: they pass back the digest the run showed them.
 */
import { sha256 } from '@noble/hashes/sha2';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils';

/** SHA-256 of a text's UTF-8 bytes, as 64 lowercase hex digits. */
export function sha256Hex(text: string): string {
  return bytesToHex(sha256(utf8ToBytes(text)));
}

/** JSON with object keys sorted at every level, so equal values give equal text. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value))
    return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

/**
 * The digest of what a gate shows: its draft text for a draft gate, its tool call (name and
 * arguments, canonical JSON) for a tool gate, and for any other kind (a budget gate...) the
 * canonical JSON of its kind, summary, draft and tool. `sha256:` followed by 64 hex digits.
 *
 * @example gateDigest({ kind: 'draft', draft: 'Ship it' }) // 'sha256:…'
 */
export function gateDigest(shown: {
  kind: string;
  summary?: string;
  draft?: string;
  tool?: { name: string; arguments: Record<string, unknown> };
}): string {
  let text: string;
  if (shown.kind === 'draft' && shown.draft !== undefined) text = shown.draft;
  else if (shown.kind === 'tool' && shown.tool)
    text = canonicalJson({ name: shown.tool.name, arguments: shown.tool.arguments });
  else
    text = canonicalJson({ kind: shown.kind, summary: shown.summary, draft: shown.draft, tool: shown.tool });
  return `sha256:${sha256Hex(text)}`;
}

/**
 * The digest of a model request (canonical JSON, so key order does not matter): equal requests,
 * equal digests. `baton eval --replay` keys recorded answers by it.
 *
 * @example modelRequestDigest({ profile, messages }) // 'sha256:…'
 */
export function modelRequestDigest(req: unknown): string {
  return `sha256:${sha256Hex(canonicalJson(req))}`;
}
