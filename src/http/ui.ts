/**
 * The web UI's static files (built from ui/ by `npm run build:ui` into ui/dist): served by the API
 * at /ui/, with / redirecting there. The page holds no data and no secret; everything it shows it
 * reads from the JSON routes with the caller's key, so the files themselves need no authentication.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Where `npm run build:ui` puts the page (the same place from src/http and dist/http). */
export const DEFAULT_UI_DIR = path.resolve(__dirname, '..', '..', 'ui', 'dist');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.map': 'application/json',
};

/** What the page may load: only its own files, and only the API it came from. */
const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/** The folder of the built page: BATON_UI_DIR (absolute, or relative to the working directory), else DEFAULT_UI_DIR. */
export function uiDirOf(env: NodeJS.ProcessEnv = process.env): string {
  return env.BATON_UI_DIR ? path.resolve(env.BATON_UI_DIR) : DEFAULT_UI_DIR;
}

/** Whether the UI is built in `dir` (its index.html exists). */
export function uiBuilt(dir: string = DEFAULT_UI_DIR): boolean {
  return fs.existsSync(path.join(dir, 'index.html'));
}

/** The sentence `baton api` prints, and /ui/ answers, when the page has not been built. */
export function uiMissingMessage(dir: string = DEFAULT_UI_DIR): string {
  return (
    `the web UI is not built (no ${path.join(dir, 'index.html')}): run \`npm run build\` ` +
    '(or `npm run build:ui`) in the Baton checkout; the JSON API works without it'
  );
}

/**
 * The answer for a GET under /ui/ (`rest` is the path after `/ui/`): a file of the build, or
 * index.html for the page itself, or undefined when there is no such file. Paths that climb out of
 * the build folder are refused as not found.
 */
export function uiFile(
  dir: string,
  rest: string,
): { status: number; body: Buffer | string; headers: Record<string, string> } | undefined {
  dir = path.resolve(dir);
  if (!uiBuilt(dir))
    return {
      status: 503,
      body: `Baton: ${uiMissingMessage(dir)}\n`,
      headers: { 'content-type': 'text/plain; charset=utf-8' },
    };
  const wanted = rest === '' ? 'index.html' : rest;
  const file = path.resolve(dir, wanted);
  if (!file.startsWith(dir + path.sep)) return undefined;
  let body: Buffer;
  try {
    if (!fs.statSync(file).isFile()) return undefined;
    body = fs.readFileSync(file);
  } catch {
    return undefined;
  }
  const ext = path.extname(file);
  return {
    status: 200,
    body,
    headers: {
      'content-type': TYPES[ext] ?? 'application/octet-stream',
      // Vite names built assets by content hash; the page itself must always be asked again.
      'cache-control': wanted.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
      ...SECURITY_HEADERS,
    },
  };
}
