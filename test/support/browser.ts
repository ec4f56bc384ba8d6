/**
 * A real browser for the web UI's end-to-end tests: Debian's `chromium` package, headless, driven by
 * playwright-core (which downloads no browser of its own). When the binary is missing and this
 * process runs as root, it is installed once with apt-get; otherwise the error says what to install.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

function found(): string | undefined {
  const own = process.env.BATON_CHROMIUM;
  if (own) return fs.existsSync(own) ? own : undefined;
  return CANDIDATES.find((p) => fs.existsSync(p));
}

function aptGet(args: string[]): boolean {
  const r = spawnSync('apt-get', args, {
    stdio: 'ignore',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    timeout: 15 * 60_000,
  });
  return r.status === 0;
}

/** The Chromium binary, installed with apt-get when missing and allowed (root); else a one-line error. */
export function chromiumPath(): string {
  let path = found();
  if (!path && !process.env.BATON_CHROMIUM && process.getuid?.() === 0) {
    // A fresh machine may have no package lists yet: update once if the first try fails.
    if (!aptGet(['install', '-y', '--no-install-recommends', 'chromium'])) {
      aptGet(['update']);
      aptGet(['install', '-y', '--no-install-recommends', 'chromium']);
    }
    path = found();
  }
  if (!path)
    throw new Error(
      process.env.BATON_CHROMIUM
        ? `BATON_CHROMIUM names ${process.env.BATON_CHROMIUM}, which does not exist`
        : "the web UI tests need Debian's chromium: run `apt-get install -y chromium` as root (or set BATON_CHROMIUM to a Chromium binary)",
    );
  return path;
}

/** Headless Chromium (no sandbox: test machines often run as root, where Chromium's sandbox refuses to start). */
export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath(), headless: true, args: ['--no-sandbox'] });
}
