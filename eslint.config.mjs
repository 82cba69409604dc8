// ESLint flat config. Two jobs: type-aware correctness rules everywhere, and the
// import fences that keep Temporal workflow code deterministic (ARCHITECTURE §3).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

// Workflows run inside Temporal's deterministic sandbox: no I/O, no tensors, no stage code.
const workflowFence = {
  paths: nodeBuiltins.map((name) => ({
    name,
    message: 'Workflows must not do I/O: move this into an activity.',
  })),
  patterns: [
    { group: ['@tensorflow/*'], message: 'Workflows never touch tensors: call an activity.' },
    { group: ['minio', 'sharp'], message: 'Workflows never touch storage or images: call an activity.' },
    {
      group: ['**/stages/**', '**/stages', '**/models/**', '**/compute/**', '**/artifacts/**', '**/metrics/**', '**/data/**', '**/infra/**', '**/cli/**'],
      message: 'Workflows may import only plan/, core/ (pure parts) and activity types.',
    },
  ],
};

// plan/ is imported by workflows, so it obeys the same rules as they do.
const pureFence = {
  paths: workflowFence.paths.map((p) => ({ ...p, message: 'plan/ must stay pure (workflows import it).' })),
  patterns: [{ group: ['@tensorflow/*', 'minio', 'sharp', '@temporalio/*'], message: 'plan/ must stay pure.' }],
};

// core/ is the bottom layer: everything may import it, so it imports nothing of ours above it.
const coreFence = {
  patterns: [
    {
      group: [
        '**/plan/**',
        '**/plan',
        '**/spec/**',
        '**/spec',
        '**/stages/**',
        '**/models/**',
        '**/compute/**',
        '**/artifacts/**',
        '**/activities/**',
        '**/workflows/**',
        '**/metrics/**',
        '**/data/**',
        '**/infra/**',
        '**/cli/**',
        '**/report/**',
      ],
      message: 'core/ is the bottom layer: move the shared type or helper into core/ instead.',
    },
  ],
};

// Stages are plain functions of their inputs: they never see Temporal.
const stageFence = {
  patterns: [{ group: ['@temporalio/*'], message: 'Stages are free of Temporal: report progress through ctx.' }],
};

export default tseslint.config(
  { ignores: ['node_modules/**', '.robustok/**', '.cache/**', '.tmp-*/**', 'test/fixtures/**', 'dist/**', 'dist.*/**', 'bin/*.js', 'eslint.config.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['test/fixtures/lint/workflows/*.ts'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // node:test's test()/describe() return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
    },
  },
  {
    files: ['workflows/**/*.ts', '**/fixtures/lint/workflows/*.ts'],
    rules: {
      'no-restricted-imports': ['error', workflowFence],
      'no-restricted-globals': [
        'error',
        { name: 'setTimeout', message: 'Use workflow.sleep in workflows.' },
        { name: 'process', message: 'Workflows must not read the environment.' },
      ],
      'no-restricted-properties': [
        'error',
        // (Date.now is allowed: Temporal's sandbox replaces it with the deterministic workflow-task time.)
        { object: 'Math', property: 'random', message: 'Non-deterministic: pass seeds in the plan.' },
      ],
    },
  },
  { files: ['plan/**/*.ts'], rules: { 'no-restricted-imports': ['error', pureFence] } },
  { files: ['core/**/*.ts'], rules: { 'no-restricted-imports': ['error', coreFence] } },
  { files: ['stages/**/*.ts', 'models/**/*.ts', 'compute/**/*.ts', 'metrics/**/*.ts'], rules: { 'no-restricted-imports': ['error', stageFence] } },
);
