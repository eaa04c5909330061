/**
 * The console's page: a fixed set of static files (console/public, copied to
 * dist/console/public by the build), read once and served from memory with
 * their content types and a Content-Security-Policy that allows nothing from
 * outside this listener (no CDN: the page works on a machine with no
 * internet). Any path not under /api/ that is not a file is the page itself,
 * so a reload of #/topics/x or /topics/x finds the app.
 */
import { readFileSync } from 'node:fs';
import type { HttpHandler } from './http.ts';

const files: Record<string, string> = {
  '/index.html': 'text/html; charset=utf-8',
  '/app.js': 'text/javascript; charset=utf-8',
  '/charts.js': 'text/javascript; charset=utf-8',
  '/style.css': 'text/css; charset=utf-8',
};

const securityHeaders = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

export function consoleAssetsHandler(publicDir: URL = new URL('../public/', import.meta.url)): HttpHandler {
  const contents = new Map<string, Buffer>();
  for (const path of Object.keys(files)) contents.set(path, readFileSync(new URL(`.${path}`, publicDir)));
  return (request, response, url) => {
    if (url.pathname.startsWith('/api/') || url.pathname === '/metrics' || url.pathname === '/health' || url.pathname === '/ready') return false;
    if (request.method !== 'GET' && request.method !== 'HEAD') return false;
    const path = contents.has(url.pathname) ? url.pathname : '/index.html';
    const body = contents.get(path)!;
    response.writeHead(200, { 'content-type': files[path]!, 'content-length': body.length, 'cache-control': 'no-cache', ...securityHeaders });
    response.end(request.method === 'HEAD' ? undefined : body);
    return true;
  };
}
