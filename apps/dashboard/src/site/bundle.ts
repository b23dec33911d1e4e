/** A compiled CommonJS module's function, as the browser-side loader calls it. */
type ModuleFactory = (
  module: { exports: unknown },
  exports: unknown,
  require: (specifier: string) => unknown,
) => void;

/**
 * The loader that runs in the browser: CommonJS `require` between the bundled modules, with
 * relative specifiers resolved against the requiring module's id. Serialized with toString, so
 * it uses nothing from its surroundings.
 */
function loadModules(modules: Record<string, ModuleFactory>, entry: string): void {
  const loaded: Record<string, { exports: unknown }> = {};
  const resolve = (from: string, specifier: string): string => {
    const parts = from.split('/').slice(0, -1);
    for (const part of specifier.split('/')) {
      if (part === '..') parts.pop();
      else if (part !== '.') parts.push(part);
    }
    return parts.join('/');
  };
  const load = (id: string): unknown => {
    const cached = loaded[id];
    if (cached) return cached.exports;
    const factory = modules[id];
    if (!factory) throw new Error(`dashboard: no module ${id}`);
    const module = { exports: {} };
    loaded[id] = module;
    factory(module, module.exports, (specifier) => load(resolve(id, specifier)));
    return module.exports;
  };
  load(entry);
}

/**
 * One script for the page from the client's compiled CommonJS modules (id: path without `.js`,
 * relative to the client folder): each module wrapped in a function, run by `loadModules` from
 * `entry`. Only relative requires between the given modules are possible.
 */
export function bundle(modules: Record<string, string>, entry: string): string {
  if (!(entry in modules)) throw new Error(`no entry module ${entry}`);
  const factories = Object.entries(modules)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([id, code]) => {
      const body = code.replace(/^\/\/# sourceMappingURL=.*$/gm, '');
      return `${JSON.stringify(id)}: function (module, exports, require) {\n${body}\n}`;
    });
  return `(${loadModules.toString()})({\n${factories.join(',\n')}\n}, ${JSON.stringify(entry)});\n`;
}
