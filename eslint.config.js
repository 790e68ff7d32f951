import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'build/',
      'bundle/',
      'dist/',
      'node_modules/',
      '.gpu/',
      'docs/api/',
      '.stryker-tmp/',
      'reports/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // FFI lives in src/cuda only; everywhere else must go through its typed wrappers.
      'no-restricted-imports': [
        'error',
        { paths: [{ name: 'koffi', message: 'FFI belongs in src/cuda/.' }] },
      ],
    },
  },
  {
    files: ['src/cuda/**/*.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    files: ['scripts/**/*.mjs', '.ci/**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
);
