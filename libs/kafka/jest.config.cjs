module.exports = require('../../jest.preset.cjs').projectJestConfig(__dirname, ['unit', 'integration']);
