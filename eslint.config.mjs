import nx from '@nx/eslint-plugin';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

// Infrastructure clients that only infra libraries may import (ARCHITECTURE.md §2).
const infraPackages = ['kafkajs', 'pg', '@clickhouse/client', 'typeorm', 'stripe', '@grpc/grpc-js'];

/**
 * Module boundaries. type:* says what kind of project may build on what; scope:* keeps a service's
 * libraries its own. Tests may also use the testing lib and inspect real stores with infra clients.
 */
const libraryKinds = ['type:contracts', 'type:domain', 'type:data-access', 'type:infra', 'type:util'];

function boundaries({ tests }) {
  const testing = tests ? ['type:testing'] : [];
  const banned = (list) => (tests ? [] : list);
  return {
    enforceBuildableLibDependency: false,
    allow: [],
    depConstraints: [
      {
        sourceTag: 'type:app',
        onlyDependOnLibsWithTags: [...libraryKinds, ...testing],
        bannedExternalImports: banned(infraPackages),
      },
      {
        sourceTag: 'type:contracts',
        onlyDependOnLibsWithTags: ['type:contracts'],
        bannedExternalImports: banned(infraPackages),
      },
      {
        sourceTag: 'type:domain',
        onlyDependOnLibsWithTags: ['type:domain', 'type:contracts', 'type:util', ...testing],
        bannedExternalImports: banned([...infraPackages, '@nestjs/*']),
      },
      {
        sourceTag: 'type:data-access',
        onlyDependOnLibsWithTags: [
          'type:data-access',
          'type:domain',
          'type:contracts',
          'type:infra',
          'type:util',
          ...testing,
        ],
      },
      {
        sourceTag: 'type:infra',
        onlyDependOnLibsWithTags: ['type:infra', 'type:contracts', 'type:util', ...testing],
      },
      {
        sourceTag: 'type:util',
        onlyDependOnLibsWithTags: ['type:util', ...testing],
        bannedExternalImports: banned(infraPackages),
      },
      {
        sourceTag: 'type:testing',
        onlyDependOnLibsWithTags: [...libraryKinds, 'type:testing'],
      },
      { sourceTag: 'scope:shared', onlyDependOnLibsWithTags: ['scope:shared'] },
      ...['tenant-registry', 'ingestion', 'aggregation', 'billing', 'audit', 'webhooks', 'dashboard'].map(
        (scope) => ({
          sourceTag: `scope:${scope}`,
          onlyDependOnLibsWithTags: [`scope:${scope}`, 'scope:shared'],
        }),
      ),
    ],
  };
}

export default tseslint.config(
  {
    ignores: [
      '**/node_modules/**',
      '**/dist/**',
      '.stack/**',
      '.nx/**',
      'coverage/**',
      '**/*.cjs',
      '**/*.mjs',
      '**/*.js',
    ],
  },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@nx': nx },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-extraneous-class': 'off',
      '@nx/enforce-module-boundaries': ['error', boundaries({ tests: false })],
    },
  },
  {
    // Tests may use the testing lib and infrastructure clients to inspect real stores.
    files: ['**/*.spec.ts', '**/*.int-spec.ts', '**/*.e2e-spec.ts'],
    rules: {
      '@nx/enforce-module-boundaries': ['error', boundaries({ tests: true })],
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      // Tests read JSON answers and gRPC replies whose shape is what they assert.
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
    },
  },
  prettier,
);
