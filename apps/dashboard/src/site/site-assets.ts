import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { bundle } from './bundle';

export interface Asset {
  body: Buffer;
  contentType: string;
  etag: string;
}

/** The page's files by URL path. */
export type SiteAssets = ReadonlyMap<string, Asset>;

const asset = (body: string, contentType: string): Asset => {
  const bytes = Buffer.from(body, 'utf8');
  return { body: bytes, contentType, etag: `"${createHash('sha256').update(bytes).digest('base64url')}"` };
};

/** Compiled client modules below `dir` by id (path without `.js`, `/`-separated). */
function clientModules(dir: string): Record<string, string> {
  const modules: Record<string, string> = {};
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.js')) continue;
    const file = path.join(entry.parentPath, entry.name);
    const id = path.relative(dir, file).slice(0, -'.js'.length).split(path.sep).join('/');
    modules[id] = readFileSync(file, 'utf8');
  }
  return modules;
}

/**
 * Reads the page once at boot from the build output (dist/apps/dashboard/src): the HTML and CSS
 * as they are, and the client's modules bundled into one script. Kept in memory, so a rebuild of
 * dist/ under a running process never serves half a page.
 */
export function loadSiteAssets(srcDir: string): SiteAssets {
  const publicDir = path.join(srcDir, 'site/public');
  return new Map([
    ['/', asset(readFileSync(path.join(publicDir, 'index.html'), 'utf8'), 'text/html; charset=utf-8')],
    ['/app.css', asset(readFileSync(path.join(publicDir, 'app.css'), 'utf8'), 'text/css; charset=utf-8')],
    [
      '/app.js',
      asset(bundle(clientModules(path.join(srcDir, 'client')), 'main'), 'text/javascript; charset=utf-8'),
    ],
  ]);
}
