// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The layers of src/, bottom first (docs/architecture.md). A module imports from its own folder and
 * from layers below its own, never from its own layer's other folders or from above. Names are
 * folders of src/, or modules at its root. The few imports that run back up say why, where they are.
 */
const LAYERS = [
  ['core', 'types', 'version'],
  ['schema', 'auth'],
  ['options', 'flatten', 'redis', 'state', 'streams'],
  ['storage', 'source'],
  ['format'],
  ['table'],
  ['sink'],
  ['mock'],
  ['export', 'compose'],
  ['fleet'],
  ['cli'],
  ['index'],
];
const ROOT_MODULES = new Set(['version', 'auth', 'streams', 'export', 'compose', 'index']);

/** One override per name: what lies on its layer or above is refused. */
const layerRules = LAYERS.flatMap((layer, i) =>
  layer.map((name) => {
    const above = LAYERS.slice(i).flat().filter((n) => n !== name);
    return {
      files: ROOT_MODULES.has(name) ? [`src/${name}.ts`] : [`src/${name}/**/*.ts`],
      rules: {
        'no-restricted-imports': ['error', { patterns: [{ regex: `^(\\.\\./)+(${above.join('|')})(/|\\.js$)`, message: `${name} may not import from ${above.join(', ')} (its own layer, or above): the direction is sink → table → format → storage, with core at the bottom (docs/architecture.md).` }] }],
      },
    };
  }),
);

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'lake/', '.tmp/', 'coverage/', 'benchmarks/results/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', performance: 'readonly', URL: 'readonly', URLSearchParams: 'readonly', AbortController: 'readonly', AbortSignal: 'readonly', NodeJS: 'readonly' } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-properties': ['error', { property: 'pipe', message: 'Use pipeline() from node:stream/promises; .pipe() chains lose errors.' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  ...layerRules,
);
