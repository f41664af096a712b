// ESLint 9 flat config: typescript-eslint's type-aware recommended rules over the TypeScript
// (the action and its tests). Formatting is Prettier's (.prettierrc.json), not ESLint's.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  // The .mjs scripts and tools are plain node without types to lint them with; dist/ is generated.
  { ignores: ['dist/', '.dist-build/', 'node_modules/', '**/*.js', '**/*.mjs', '**/*.mts'] },
  {
    files: ['**/*.ts'],
    extends: [js.configs.recommended, ...tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname }
    },
    rules: {
      // runbox's sanitizers (exec's singleLine, untrusted-text, input checks) match control characters on purpose.
      'no-control-regex': 'off',
      // `_` marks an argument a callback signature demands but the body does not use.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }]
    }
  }
);
