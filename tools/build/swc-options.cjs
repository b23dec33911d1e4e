// One SWC configuration for the build and for jest, so tests run the code as it ships.
const path = require('node:path');
const tsconfig = require('../../tsconfig.base.json');

const root = path.resolve(__dirname, '../..');

function swcOptions({ rewritePaths } = { rewritePaths: false }) {
  return {
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: false },
      target: 'es2022',
      keepClassNames: true,
      ...(rewritePaths ? { baseUrl: root, paths: tsconfig.compilerOptions.paths } : {}),
    },
    module: { type: 'commonjs', strictMode: true },
    sourceMaps: true,
  };
}

/** `@metering/<lib>` → source entry point, for jest's moduleNameMapper. */
function jestModuleNameMapper() {
  const mapper = {};
  for (const [alias, [target]] of Object.entries(tsconfig.compilerOptions.paths)) {
    mapper[`^${alias.replace(/[/]/g, '\\/')}$`] = path.join(root, target);
  }
  return mapper;
}

module.exports = { swcOptions, jestModuleNameMapper, root };
