import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BadInputError } from '../../src/cli/exit-codes';
import { loadToolsModule } from '../../src/cli/tools-module';

const dir = mkdtempSync(join(tmpdir(), 'baton-tools-module-'));

test('a TypeScript tools module without tsx installed says to compile it or install tsx', () => {
  const file = join(dir, 'tools.ts');
  writeFileSync(file, 'export const tools = [];\n');
  jest.isolateModules(() => {
    jest.doMock('tsx/cjs', () => {
      throw new Error("Cannot find module 'tsx/cjs'");
    });
    // Loaded after the mock, in the same isolated registry.
    const isolated = jest.requireActual<typeof import('../../src/cli/tools-module')>(
      '../../src/cli/tools-module',
    );
    const thrown = (() => {
      try {
        isolated.loadToolsModule(file);
      } catch (e) {
        return e as Error;
      }
    })();
    expect(thrown?.name).toBe('BadInputError');
    expect(thrown?.message).toMatch(
      /is TypeScript, and tsx, which loads it, is not installed .*compile it to JavaScript, or install tsx/,
    );
  });
  jest.dontMock('tsx/cjs');
});

test('a JavaScript tools module loads without tsx; a missing one is refused', () => {
  const file = join(dir, 'tools.js');
  writeFileSync(file, "exports.tools = [{ name: 'echo', description: 'echo', run: async (a) => a }];\n");
  expect(loadToolsModule(file).map((t) => t.name)).toEqual(['echo']);
  expect(() => loadToolsModule(join(dir, 'missing.js'))).toThrow(BadInputError);
});
