// One linter for the whole tree: typescript-eslint with type information.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['**/dist/**', '**/node_modules/**', 'libs/contracts/src/gen/**', '**/*.d.ts'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        // Root config files belong to no package; lint them with a default project.
        projectService: { allowDefaultProject: ['vitest.config.ts'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      // A lib's door is its index.ts, a service's door is its proto: never reach into another
      // package's sources.
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@lathe/*/src', '@lathe/*/src/*', '@lathe/*/dist/*'],
              message: 'import the package entry point, not its files',
            },
            {
              group: ['../../libs/*', '../../../libs/*', '../../services/*', '../../../services/*'],
              message: 'import other packages by name',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
);
