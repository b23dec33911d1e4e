// Shared jest settings: SWC transform (same options as the build) and the three test tiers,
// selected by file suffix: unit (*.spec.ts), integration (*.int-spec.ts), end-to-end (*.e2e-spec.ts).
const path = require('node:path');
const { swcOptions, jestModuleNameMapper, root } = require('./tools/build/swc-options.cjs');

const base = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['@swc/jest', { ...swcOptions(), swcrc: false }] },
  moduleFileExtensions: ['ts', 'js', 'json'],
  moduleNameMapper: jestModuleNameMapper(),
};

const stackSetup = path.join(root, 'libs/testing/src/global-setup.cjs');

/** Jest config for one Nx project; `tiers` lists which of its tiers exist. */
function projectJestConfig(projectDir, tiers = ['unit']) {
  const rootDir = projectDir;
  const projects = [];
  if (tiers.includes('unit')) {
    projects.push({ ...base, rootDir, displayName: 'unit', testMatch: ['<rootDir>/**/*.spec.ts'] });
  }
  if (tiers.includes('integration')) {
    projects.push({
      ...base,
      rootDir,
      displayName: 'integration',
      testMatch: ['<rootDir>/**/*.int-spec.ts'],
      globalSetup: stackSetup,
      setupFilesAfterEnv: [path.join(root, 'libs/testing/src/jest-int-setup.cjs')],
    });
  }
  if (tiers.includes('e2e')) {
    projects.push({
      ...base,
      rootDir,
      displayName: 'e2e',
      testMatch: ['<rootDir>/**/*.e2e-spec.ts'],
      globalSetup: stackSetup,
      setupFilesAfterEnv: [path.join(root, 'libs/testing/src/jest-e2e-setup.cjs')],
    });
  }
  return { projects };
}

module.exports = { projectJestConfig };
