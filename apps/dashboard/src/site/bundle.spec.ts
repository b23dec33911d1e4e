import { runInNewContext } from 'node:vm';
import { bundle } from './bundle';

describe(bundle.name, () => {
  it('runs the entry with CommonJS requires resolved relative to each module', () => {
    const modules = {
      main: 'const { greet } = require("./views/greet"); log.push(greet("page"));',
      'views/greet':
        'const { upper } = require("../text"); exports.greet = (who) => upper("hello " + who);\n//# sourceMappingURL=greet.js.map',
      text: 'let calls = 0; exports.upper = (s) => { calls++; log.push("upper#" + calls); return s.toUpperCase(); };',
      unused: 'log.push("never loaded");',
    };
    const log: string[] = [];
    runInNewContext(bundle(modules, 'main'), { log });
    expect(log).toEqual(['upper#1', 'HELLO PAGE']);
  });

  it('loads each module once, however many modules require it', () => {
    const modules = {
      main: 'require("./a"); require("./b");',
      a: 'require("./shared");',
      b: 'require("./shared");',
      shared: 'log.push("shared");',
    };
    const log: string[] = [];
    runInNewContext(bundle(modules, 'main'), { log });
    expect(log).toEqual(['shared']);
  });

  it('fails loudly on a module that is not in the bundle', () => {
    expect(() => runInNewContext(bundle({ main: 'require("./missing");' }, 'main'), {})).toThrow(
      'dashboard: no module missing',
    );
  });

  it('drops source map comments, whose files the page does not serve', () => {
    expect(bundle({ main: 'x();\n//# sourceMappingURL=main.js.map' }, 'main')).not.toContain(
      'sourceMappingURL',
    );
  });
});
