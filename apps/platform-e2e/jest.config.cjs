module.exports = require('../../jest.preset.cjs').projectJestConfig(__dirname, ['e2e']);
