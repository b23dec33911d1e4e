// End-to-end tests (*.e2e-spec.ts), and the soak (*.soak-spec.ts): the same setup on the whole
// stack, in a project of its own so that the e2e target does not run it (nx run platform-e2e:soak).
const { projectJestConfig } = require('../../jest.preset.cjs');

const config = projectJestConfig(__dirname, ['e2e']);
const [e2e] = config.projects;
config.projects.push({ ...e2e, displayName: 'soak', testMatch: ['<rootDir>/**/*.soak-spec.ts'] });

module.exports = config;
