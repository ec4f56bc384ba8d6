// Lint: type-aware TypeScript rules, plus the rules that keep workflow code deterministic.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const workflowBans = {
  paths: [
    'openai',
    '@anthropic-ai/sdk',
    '@temporalio/client',
    '@temporalio/worker',
    '@temporalio/activity',
    '@temporalio/testing',
    {
      name: 'ajv',
      message:
        'Ajv compiles schemas with new Function: validate in the model activity (src/activities/json-schema.ts).',
    },
    ...[
      'fs',
      'path',
      'os',
      'child_process',
      'http',
      'https',
      'net',
      'crypto',
      'process',
      'timers',
      'events',
      'worker_threads',
      'dns',
      'stream',
    ].flatMap((m) => [
      { name: m, message: 'Workflow code must not do I/O: move this to an activity.' },
      { name: `node:${m}`, message: 'Workflow code must not do I/O: move this to an activity.' },
    ]),
  ].map((p) =>
    typeof p === 'string'
      ? { name: p, message: 'SDK clients belong in activities (src/activities), never in workflow code.' }
      : p,
  ),
  patterns: [
    {
      group: ['../activities', '../activities/*', '../../activities', '../../activities/*'],
      allowTypeImports: true,
      message: 'Import activities as types only: proxyActivities<typeof ...>.',
    },
    { group: ['node:*'], message: 'Workflow code must not use Node built-ins.' },
  ],
};

export default tseslint.config(
  // TypeScript is linted; plain JS files (bin, config, jest reporter, bench output) are not part of the project.
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'coverage/**',
      'bench/results/**',
      '**/*.js',
      'eslint.config.mjs',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // A missed await on an activity is a real bug: the step runs unobserved.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/require-await': 'off',
      // Index access is not checked by tsconfig, so '!' after it reads as noise to this rule; keep it as documentation.
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      '@typescript-eslint/restrict-template-expressions': 'off',
      '@typescript-eslint/no-require-imports': 'off',
    },
  },
  {
    // The tracing interceptors run inside the workflow bundle too.
    files: ['src/workflows/**/*.ts', 'src/telemetry/workflow-interceptors.ts', 'src/telemetry/names.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', workflowBans],
      'no-restricted-globals': [
        'error',
        {
          name: 'process',
          message: 'No environment reads in workflow code: pass settings as workflow input.',
        },
        { name: 'setTimeout', message: "Use sleep() from '@temporalio/workflow'." },
        { name: 'setInterval', message: "Use sleep() in a loop from '@temporalio/workflow'." },
        { name: 'fetch', message: 'Workflow code must not do I/O: move this to an activity.' },
        { name: 'require', message: 'Use static imports in workflow code.' },
      ],
      'no-restricted-properties': [
        'error',
        {
          object: 'Date',
          property: 'now',
          message:
            "Non-deterministic: use workflow time from '@temporalio/workflow' (or take time from an activity).",
        },
        {
          object: 'Math',
          property: 'random',
          message: "Non-deterministic: use uuid4() from '@temporalio/workflow'.",
        },
      ],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/unbound-method': 'off', '@typescript-eslint/no-non-null-assertion': 'off' },
  },
);
