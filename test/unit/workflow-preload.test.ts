/**
 * Baton's workflow modules are preloaded (src/worker.ts, batonBundlerOptions): one copy of each,
 * evaluated once per workflow context and shared by every run in it. That is only safe while no
 * module in that bundle keeps state of its own between runs. This reads every Baton module the
 * workflows bundle loads (src/workflows/index.ts and what it imports) and fails on module-level
 * state a run could write: a `let` or `var`, a Map or Set some code adds to, an object or array
 * some code writes into, a class with static fields, a global regex (its lastIndex), top-level
 * statements. A WeakMap keyed by the run's own RunState is per-run state and allowed.
 * test/integration/workflow-preload.test.ts runs runs side by side with the option on.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { batonBundlerOptions, batonWorkflowsModule } from '../../src/worker';

const ROOT = join(__dirname, '..', '..');

function resolveModule(from: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const base = resolve(dirname(from), spec);
  for (const f of [`${base}.ts`, join(base, 'index.ts')]) if (existsSync(f)) return f;
  throw new Error(`cannot resolve ${spec} from ${from}`);
}

/** Baton's own source files in the workflow bundle: index.ts and what it imports, transitively. */
function bundledSources(entry: string): Map<string, ts.SourceFile> {
  const out = new Map<string, ts.SourceFile>();
  const visit = (file: string) => {
    if (out.has(file)) return;
    const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
    out.set(file, sf);
    for (const st of sf.statements) {
      const spec =
        (ts.isImportDeclaration(st) && !st.importClause?.isTypeOnly) ||
        (ts.isExportDeclaration(st) && !st.isTypeOnly)
          ? st.moduleSpecifier
          : undefined;
      if (spec && ts.isStringLiteral(spec)) {
        const next = resolveModule(file, spec.text);
        if (next) visit(next);
      }
    }
  };
  visit(entry);
  return out;
}

const PURE_CALLS = new Set([
  'defineQuery',
  'defineUpdate',
  'defineSignal',
  'defineSearchAttributeKey',
  'proxyActivities',
  'proxyLocalActivities',
  'Object.freeze',
  // An already settled promise, only awaited.
  'Promise.resolve',
]);

const MUTATORS =
  'push|pop|shift|unshift|splice|sort|reverse|fill|copyWithin|set|add|delete|clear|assign|defineProperty';

/** Where `name` (a module-level binding) is written through: a property set, a mutating method, delete. */
function writesThrough(name: string, text: string): string[] {
  const n = name.replace(/\$/g, '\\$');
  const patterns = [
    new RegExp(
      `(?<![\\w$.])${n}(?:\\??\\.[\\w$]+|\\[[^\\]]*\\])+\\s*(?:[-+*/%&|^]|\\?\\?|&&|\\|\\|)?=(?!=)`,
      'g',
    ),
    new RegExp(`(?<![\\w$.])${n}(?:\\??\\.[\\w$]+|\\[[^\\]]*\\])*\\??\\.(?:${MUTATORS})\\(`, 'g'),
    new RegExp(`\\bdelete\\s+${n}\\b`, 'g'),
    new RegExp(`Object\\.(?:assign|defineProperty|setPrototypeOf)\\(\\s*${n}\\b`, 'g'),
  ];
  return patterns.flatMap((p) => text.match(p) ?? []);
}

interface Binding {
  file: string;
  name: string;
  exported: boolean;
  init: ts.Expression | undefined;
  /** A WeakMap or WeakSet keyed by RunState: each run writes only under its own RunState (the type says so). */
  perRun?: boolean;
}

function audit(sources: Map<string, ts.SourceFile>): string[] {
  const problems: string[] = [];
  const bindings: Binding[] = [];
  for (const [file, sf] of sources) {
    const where = (node: ts.Node) =>
      `${relative(ROOT, file)}:${sf.getLineAndCharacterOfPosition(node.getStart()).line + 1}`;
    for (const st of sf.statements) {
      if (ts.isVariableStatement(st)) {
        const flags = st.declarationList.flags;
        if (!(flags & ts.NodeFlags.Const)) {
          problems.push(`${where(st)}: module-level ${flags & ts.NodeFlags.Let ? 'let' : 'var'}`);
          continue;
        }
        const exported = !!ts.getModifiers(st)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
        for (const d of st.declarationList.declarations) {
          if (!ts.isIdentifier(d.name)) {
            problems.push(`${where(d)}: module-level destructuring ${d.name.getText()}`);
            continue;
          }
          bindings.push({ file, name: d.name.text, exported, init: d.initializer });
          let init = d.initializer;
          while (
            init &&
            (ts.isAsExpression(init) || ts.isSatisfiesExpression(init) || ts.isParenthesizedExpression(init))
          )
            init = init.expression;
          if (!init) continue;
          if (ts.isNewExpression(init)) {
            const cls = init.expression.getText();
            const key = init.typeArguments?.[0]?.getText();
            if ((cls === 'WeakMap' || cls === 'WeakSet') && key === 'RunState') {
              bindings[bindings.length - 1]!.perRun = true;
              continue;
            }
            if (cls === 'Map' || cls === 'Set') continue; // allowed when nothing writes into it (below)
            problems.push(`${where(d)}: module-level new ${cls} (${d.name.text})`);
          } else if (ts.isCallExpression(init)) {
            const callee = init.expression.getText();
            const joined =
              ts.isPropertyAccessExpression(init.expression) &&
              init.expression.name.text === 'join' &&
              ts.isArrayLiteralExpression(init.expression.expression);
            if (!PURE_CALLS.has(callee) && !joined)
              problems.push(
                `${where(d)}: module-level ${d.name.text} = ${callee}(...) (not known to be stateless)`,
              );
          } else if (ts.isRegularExpressionLiteral(init) && /\/[a-z]*[gy][a-z]*$/.test(init.text)) {
            problems.push(
              `${where(d)}: module-level global or sticky regex ${d.name.text} (keeps lastIndex)`,
            );
          }
        }
      } else if (ts.isClassDeclaration(st)) {
        for (const m of st.members) {
          const isStatic = (ts.canHaveModifiers(m) ? ts.getModifiers(m) : undefined)?.some(
            (x) => x.kind === ts.SyntaxKind.StaticKeyword,
          );
          if (ts.isClassStaticBlockDeclaration(m) || (isStatic && ts.isPropertyDeclaration(m)))
            problems.push(`${where(m)}: static state in class ${st.name?.text}`);
        }
      } else if (
        !ts.isFunctionDeclaration(st) &&
        !ts.isImportDeclaration(st) &&
        !ts.isExportDeclaration(st) &&
        !ts.isInterfaceDeclaration(st) &&
        !ts.isTypeAliasDeclaration(st) &&
        !ts.isModuleDeclaration(st)
      ) {
        problems.push(`${where(st)}: module-level statement ${ts.SyntaxKind[st.kind]}`);
      }
    }
  }
  // Module-level objects, arrays, Maps and Sets: nothing may write into them (exported ones are also
  // frozen by the SDK when preloaded, so a write would throw in every run, not only in this test).
  for (const b of bindings) {
    if (b.perRun || !b.init || ts.isArrowFunction(b.init) || ts.isFunctionExpression(b.init)) continue;
    const texts = b.exported ? [...sources.values()] : [sources.get(b.file)!];
    for (const sf of texts) {
      for (const w of writesThrough(b.name, sf.text))
        problems.push(`${relative(ROOT, sf.fileName)}: writes into module-level ${b.name}: ${w.trim()}`);
    }
  }
  return problems;
}

test('the modules of the preloaded workflow bundle keep no state of their own between runs', () => {
  const sources = bundledSources(join(ROOT, 'src', 'workflows', 'index.ts'));
  // The walk reaches the modules that matter (a broken walk would audit nothing).
  const names = [...sources.keys()].map((f) => relative(ROOT, f));
  expect(names).toEqual(
    expect.arrayContaining([
      'src/workflows/ensemble.ts',
      'src/workflows/approval.ts',
      'src/workflows/ledger.ts',
      'src/workflows/run-state.ts',
      'src/workflows/step.ts',
      'src/workflows/digest.ts',
      'src/types.ts',
    ]),
  );
  expect(audit(sources)).toEqual([]);
});

test('the audit finds module-level state of the kinds it looks for', () => {
  const file = join(ROOT, 'src', 'workflows', 'probe.ts');
  const sf = ts.createSourceFile(
    file,
    [
      'let calls = 0;',
      'const seen = new Map<string, number>();',
      'export const spent = { total: 0 };',
      'const ids = new WeakMap<object, string>();',
      'const WORD = /\\w+/g;',
      'class Cache { static last: string | undefined; }',
      'export function run(id: string) { seen.set(id, ++calls); spent.total += 1; }',
    ].join('\n'),
    ts.ScriptTarget.ES2022,
    true,
  );
  const found = audit(new Map([[file, sf]])).join('\n');
  for (const what of [
    'module-level let',
    'new WeakMap',
    'global or sticky regex',
    'static state',
    'writes into module-level seen',
    'writes into module-level spent',
  ])
    expect(found).toContain(what);
});

test('bundles of Baton’s own workflows preload them: the prebuilt bundle, createWorker and the test harness use one option', () => {
  expect(batonBundlerOptions()).toEqual({ preloadModules: [batonWorkflowsModule()] });
  expect(batonWorkflowsModule()).toBe(require.resolve('../../src/workflows'));
  // `npm run build`'s bundle, when there is one: baton worker uses it.
  const prebuilt = join(ROOT, 'dist', 'workflow-bundle.js');
  if (existsSync(prebuilt)) {
    expect(readFileSync(prebuilt, 'utf8')).toMatch(
      /exports\.preloadModules = function preloadModules\(\) \{\s*__webpack_require__\([^)]*"\.\/dist\/workflows\/index\.js"\)/,
    );
  }
});
