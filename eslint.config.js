// Lint rules: typescript-eslint's type-aware recommended set, plus the service boundary rule.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const SERVICES = [
  'auth-proxy',
  'subscription-mgr',
  'vault',
  'event-logger',
  'member-data',
  'business-data',
  'reporter',
  'member-mail',
  'chain-notifier',
  'price-notifier',
  'machine-notifier',
  'business-mgr',
  'machine-mgr',
  'payout-mgr',
  'server',
  'chain-adaptor',
];

/**
 * A service may import src/core, the bus (auth-proxy's index) and the chain library (chain-adaptor's index) only,
 * never another service's files.
 */
const serviceBoundaries = SERVICES.map((service) => ({
  files: [`src/${service}/**/*.ts`],
  ignores: ['src/server/ui/**'],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          {
            regex: `^\\.\\./(?!core/|${service}/|auth-proxy/index\\.js$|chain-adaptor/index\\.js$)`,
            message:
              'A service imports only src/core, the bus (../auth-proxy/index.js) and the chain library (../chain-adaptor/index.js), never another service.',
          },
          ...(service === 'server'
            ? [
                {
                  regex: '^\\./ui/',
                  message: 'The server never imports its browser UI: esbuild bundles it apart (scripts/build-ui.mjs).',
                },
              ]
            : []),
        ],
      },
    ],
  },
}));

/**
 * The dashboard in src/server/ui runs in a browser, bundled by esbuild: it imports preact, its own files and the
 * money formatting of src/core, never Node or server code.
 */
const browserUi = {
  files: ['src/server/ui/**/*.{ts,tsx}'],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          {
            regex: '^(node:|\\.\\./(?!\\.\\./core/money\\.js$))',
            message:
              'The browser UI imports preact, its own files and ../../core/money.js only; Node and server code do not run in a browser.',
          },
        ],
      },
    ],
  },
};

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'data/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['*.js', 'scripts/*.mjs'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      // node:test's describe/test return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': 'off',
    },
  },
  {
    files: ['*.js', 'scripts/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
  ...serviceBoundaries,
  browserUi,
);
