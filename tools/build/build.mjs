// Compiles apps/ and libs/ with SWC into dist/ (same layout), rewriting `@metering/*` imports to
// relative paths and copying non-TypeScript assets (.proto, .sql). Tests are not shipped.
import { transformFile } from '@swc/core';
import { createRequire } from 'node:module';
import { cp, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

const require = createRequire(import.meta.url);
const { swcOptions, root } = require('./swc-options.cjs');
const outDir = path.join(root, 'dist');
const isTest = (f) => /\.(spec|int-spec|e2e-spec)\.ts$/.test(f) || f.includes('/test-support/');

async function* walk(dir) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(full);
    else yield full;
  }
}

async function main() {
  await rm(outDir, { recursive: true, force: true });
  const options = swcOptions({ rewritePaths: true });
  let compiled = 0;
  let copied = 0;
  for (const top of ['apps', 'libs']) {
    for await (const file of walk(path.join(root, top))) {
      const rel = path.relative(root, file);
      if (!rel.split(path.sep).includes('src') || isTest(rel) || rel.endsWith('.d.ts')) continue;
      const target = path.join(outDir, rel);
      await mkdir(path.dirname(target), { recursive: true });
      if (file.endsWith('.ts')) {
        const out = await transformFile(file, { ...options, filename: file, sourceFileName: file });
        const js = target.replace(/\.ts$/, '.js');
        await writeFile(js, `${out.code}\n//# sourceMappingURL=${path.basename(js)}.map\n`);
        await writeFile(`${js}.map`, out.map ?? '');
        compiled++;
      } else if (/\.(proto|sql|html|css|svg)$/.test(file)) {
        await cp(file, target);
        copied++;
      }
    }
  }
  console.log(`built ${compiled} modules and ${copied} assets into dist/`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
