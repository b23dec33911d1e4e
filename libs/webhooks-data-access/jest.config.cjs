module.exports = require('../../jest.preset.cjs').projectJestConfig(__dirname, ['integration']);
