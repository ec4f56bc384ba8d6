import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  acquireTemporal,
  defaultCacheDir,
  findTemporalBinary,
  resolveTemporal,
  startDevServer,
  TemporalUnavailableError,
} from '../../src/server';

// Every test gets its own folders and a PATH made only of them, so the real `temporal` and `go`
// on this machine are never found, run or built.
let root: string;
let dirs: { path: string; project: string; tools: string; cache: string; home: string; go: string };

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'baton-resolve-'));
  dirs = {
    path: join(root, 'path-bin'),
    project: join(root, 'project'),
    tools: join(root, 'project', '.tools', 'bin'),
    cache: join(root, 'cache'),
    home: join(root, 'home'),
    go: join(root, 'go-bin'),
  };
  for (const dir of Object.values(dirs)) mkdirSync(dir, { recursive: true });
});

afterEach(() => rmSync(root, { recursive: true, force: true }));

/** A fake `temporal` that leaves a mark if anything runs it. */
function fakeTemporal(dir: string): string {
  const file = join(dir, 'temporal');
  writeFileSync(file, `#!/bin/sh\necho ran >> "${join(root, 'temporal-ran')}"\n`);
  chmodSync(file, 0o755);
  return file;
}

/** A fake `go` that records its call and "builds" a fake `temporal` into $GOBIN. */
function fakeGo(script = ''): string {
  const file = join(dirs.go, 'go');
  writeFileSync(
    file,
    [
      '#!/bin/sh',
      `echo "$CGO_ENABLED $*" >> "${join(root, 'go-calls')}"`,
      script,
      '/bin/mkdir -p "$GOBIN"',
      'printf "#!/bin/sh\\n" > "$GOBIN/temporal"',
      '/bin/chmod +x "$GOBIN/temporal"',
    ].join('\n'),
  );
  chmodSync(file, 0o755);
  return file;
}

function options(pathDirs: string[] = [dirs.path]) {
  return {
    env: { PATH: pathDirs.join(':'), HOME: dirs.home },
    projectDir: dirs.project,
    cacheDir: dirs.cache,
    log: () => {},
  };
}

describe('findTemporalBinary', () => {
  it('prefers PATH, then the project tools folder, then the build cache', async () => {
    const onPath = fakeTemporal(dirs.path);
    const inTools = fakeTemporal(dirs.tools);
    const inCache = fakeTemporal(dirs.cache);

    expect(await findTemporalBinary(options())).toEqual({ path: onPath, source: 'path' });
    rmSync(onPath);
    expect(await findTemporalBinary(options())).toEqual({ path: inTools, source: 'tools' });
    rmSync(inTools);
    expect(await findTemporalBinary(options())).toEqual({ path: inCache, source: 'cache' });
    expect(existsSync(join(root, 'temporal-ran'))).toBe(false);
  });

  it('skips a `temporal` file that is not executable', async () => {
    writeFileSync(join(dirs.path, 'temporal'), 'not a program');
    const inCache = fakeTemporal(dirs.cache);
    expect(await findTemporalBinary(options())).toEqual({ path: inCache, source: 'cache' });
  });

  it('builds with `go install` v1.5.1, CGO off, into the cache, once for two concurrent callers', async () => {
    fakeGo('/bin/sleep 1');
    const lines: string[] = [];
    const opts = { ...options([dirs.path, dirs.go]), log: (line: string) => lines.push(line) };

    const results = await Promise.all([findTemporalBinary(opts), findTemporalBinary(opts)]);

    const binary = join(dirs.cache, 'temporal');
    expect(results.map((r) => ('path' in r ? r.path : r.tried))).toEqual([binary, binary]);
    expect(results.map((r) => ('source' in r ? r.source : '')).sort()).toEqual(['cache', 'go-install']);
    expect(readFileSync(join(root, 'go-calls'), 'utf8')).toBe(
      '0 install github.com/temporalio/cli/cmd/temporal@v1.5.1\n',
    );
    expect(lines).toContain(
      `Building the Temporal CLI v1.5.1 with Go, about 5 minutes, once; cached in ${dirs.cache}`,
    );
    expect(existsSync(join(dirs.cache, '.build.lock'))).toBe(false);
  });

  it('takes over a build lock whose owner died', async () => {
    fakeGo();
    const dead = spawnSync('/bin/true').pid;
    mkdirSync(join(dirs.cache, '.build.lock'));
    writeFileSync(join(dirs.cache, '.build.lock', 'owner'), `${dead} ${hostname()}`);

    const result = await findTemporalBinary(options([dirs.go]));

    expect(result).toEqual({ path: join(dirs.cache, 'temporal'), source: 'go-install' });
  });

  it('reports a failed build with its output and releases the lock', async () => {
    const go = join(dirs.go, 'go');
    writeFileSync(go, '#!/bin/sh\necho "proxy.golang.org: connection refused" >&2\nexit 1\n');
    chmodSync(go, 0o755);

    const result = await findTemporalBinary(options([dirs.go]));

    expect('tried' in result && result.tried.at(-1)).toMatch(
      /^go install: .*exit code 1.*\n.*connection refused/s,
    );
    expect(existsSync(join(dirs.cache, '.build.lock'))).toBe(false);
  });
});

describe('resolveTemporal', () => {
  it('uses TEMPORAL_ADDRESS over any binary, and starts nothing', async () => {
    fakeTemporal(dirs.path);
    fakeGo();
    const opts = options([dirs.path, dirs.go]);
    const env = {
      ...opts.env,
      TEMPORAL_ADDRESS: 'temporal.example:7233',
      TEMPORAL_NAMESPACE: 'agents',
      TEMPORAL_API_KEY: 'k',
    };

    const plan = await resolveTemporal({ ...opts, env });

    expect(plan).toEqual({
      kind: 'external',
      address: 'temporal.example:7233',
      namespace: 'agents',
      // envconfig turns TLS on when an API key is given (Temporal Cloud).
      connectionOptions: { address: 'temporal.example:7233', apiKey: 'k', tls: true },
    });
    expect(existsSync(join(root, 'temporal-ran'))).toBe(false);
    expect(existsSync(join(root, 'go-calls'))).toBe(false);
  });

  it('defaults the namespace of an external cluster to "default"', async () => {
    const env = { ...options().env, TEMPORAL_ADDRESS: '10.0.0.5:7233' };
    expect(await resolveTemporal({ ...options(), env })).toMatchObject({
      kind: 'external',
      namespace: 'default',
    });
  });
});

describe('acquireTemporal', () => {
  it('throws one TemporalUnavailableError naming every place tried and what to do', async () => {
    const error = await acquireTemporal({ ...options(), allowDownload: false }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(TemporalUnavailableError);
    const { message, tried, name } = error as TemporalUnavailableError;
    expect(name).toBe('TemporalUnavailableError');
    expect(tried).toEqual([
      'TEMPORAL_ADDRESS: not set',
      'PATH: no executable `temporal` in any of its 1 folders',
      `project tools folder: ${join(dirs.tools, 'temporal')} does not exist`,
      `build cache: ${join(dirs.cache, 'temporal')} does not exist`,
      'go install: `go` is not on PATH',
      'SDK download: not allowed here (allowDownload: false)',
    ]);
    for (const line of tried) expect(message).toContain(line);
    expect(message).toMatch(/set TEMPORAL_ADDRESS/);
    expect(message).toMatch(/Temporal CLI on PATH/);
    expect(message).toMatch(/install Go/);
  });
});

describe('startDevServer', () => {
  it('rejects at once with the output of a server that exits before serving', async () => {
    const binary = join(dirs.path, 'temporal');
    writeFileSync(binary, '#!/bin/sh\necho "flag provided but not defined: --headless" >&2\nexit 3\n');
    chmodSync(binary, 0o755);

    await expect(startDevServer({ binary })).rejects.toThrow(
      /stopped before serving \(exit code 3\)[\s\S]*server start-dev --ip 127\.0\.0\.1[\s\S]*flag provided but not defined/,
    );
  });

  it('rejects at once when the binary cannot be run', async () => {
    await expect(startDevServer({ binary: join(root, 'missing') })).rejects.toThrow(
      /could not run it: .*ENOENT/,
    );
  });
});

describe('defaultCacheDir', () => {
  it('honours BATON_TEMPORAL_CACHE_DIR, then XDG_CACHE_HOME, then ~/.cache', () => {
    expect(defaultCacheDir({ BATON_TEMPORAL_CACHE_DIR: '/x', XDG_CACHE_HOME: '/y', HOME: '/h' })).toBe('/x');
    expect(defaultCacheDir({ XDG_CACHE_HOME: '/y', HOME: '/h' })).toBe('/y/baton/bin');
    expect(defaultCacheDir({ HOME: '/h' })).toBe('/h/.cache/baton/bin');
  });
});
