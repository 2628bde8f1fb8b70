// The run viewer: static HTML shells, ES modules and CSS under /viewer/, mounted on the API app with
// app.route('/viewer', createViewerApp(deps)). No bundler and no server-side rendering of data: the
// shells carry no run data and no secrets; the browser fetches everything from the API with the key
// the user typed (kept in sessionStorage) and inserts it as text.
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hono } from 'hono';
import type { ImageStore } from '../images.js';
import { originOf, viewerHeaders } from './security-headers.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/** Page name → shell; the run, batch and triggers shells serve every id (the script reads it from the path). */
export const VIEWER_PAGES = ['key', 'start', 'run', 'batch', 'triggers'] as const;
export const RUN_ID = /^cf-[A-Za-z0-9-]{8,64}$/;
export const BATCH_ID = /^batch-[A-Za-z0-9-]{8,64}$/;
export const TRIGGER_ID = /^trg_[0-9a-f]{24}$/;

interface Asset {
  body: string;
  type: string;
}

function readAssets(dir: string, names: readonly string[]): Map<string, Asset> {
  return new Map(
    names.map((name) => [
      name,
      { body: readFileSync(join(dir, name), 'utf8'), type: TYPES[extname(name)] ?? 'text/plain' },
    ]),
  );
}

export interface ViewerDeps {
  images: Pick<ImageStore, 'bucket' | 'presignGet'>;
}

export function createViewerApp(deps: ViewerDeps): Hono {
  // Read once: a fixed set of files, so no request path ever reaches the file system.
  const staticDir = join(HERE, 'static');
  const statics = readAssets(
    staticDir,
    readdirSync(staticDir).filter((n) => ['.js', '.css'].includes(extname(n))),
  );
  const pages = readAssets(
    join(HERE, 'pages'),
    VIEWER_PAGES.map((p) => `${p}.html`),
  );
  const elkPath = createRequire(import.meta.url).resolve('elkjs/lib/elk.bundled.js');
  const elk: Asset = { body: readFileSync(elkPath, 'utf8'), type: TYPES['.js']! };

  let headers: Promise<Record<string, string>> | null = null;
  const securityHeaders = () => {
    headers ??= deps.images
      .presignGet(
        {
          bucket: deps.images.bucket,
          key: 'viewer/csp-origin-probe',
          sha256: '0'.repeat(64),
          bytes: 0,
          contentType: 'image/png',
        },
        60,
      )
      .then((url) => viewerHeaders({ imageOrigin: originOf(url) }));
    return headers;
  };

  const app = new Hono();
  app.use('*', async (c, next) => {
    await next();
    for (const [k, v] of Object.entries(await securityHeaders())) c.header(k, v);
  });

  const page = (name: (typeof VIEWER_PAGES)[number]) => {
    const asset = pages.get(`${name}.html`)!;
    return new Response(asset.body, {
      headers: { 'Content-Type': asset.type, 'Cache-Control': 'no-cache' },
    });
  };
  const notFound = () =>
    new Response('not found', { status: 404, headers: { 'Content-Type': 'text/plain; charset=utf-8' } });

  app.get('/', (c) => c.redirect('/viewer/start'));
  app.get('/key', () => page('key'));
  app.get('/start', () => page('start'));
  app.get('/runs/:id', (c) => (RUN_ID.test(c.req.param('id')) ? page('run') : notFound()));
  app.get('/batches/:id', (c) => (BATCH_ID.test(c.req.param('id')) ? page('batch') : notFound()));
  // A batch's child run (its id has slashes, percent-encoded into this one segment).
  app.get('/batches/:id/runs/:runId', (c) =>
    BATCH_ID.test(c.req.param('id')) && c.req.param('runId').length <= 512 ? page('run') : notFound(),
  );
  app.get('/triggers', () => page('triggers'));
  app.get('/triggers/:id', (c) => (TRIGGER_ID.test(c.req.param('id')) ? page('triggers') : notFound()));
  app.get('/static/:name', (c) => {
    const asset = statics.get(c.req.param('name'));
    if (!asset) return notFound();
    return new Response(asset.body, { headers: { 'Content-Type': asset.type, 'Cache-Control': 'no-cache' } });
  });
  app.get('/vendor/elk.bundled.js', () => {
    return new Response(elk.body, {
      headers: { 'Content-Type': elk.type, 'Cache-Control': 'public, max-age=86400' },
    });
  });
  // Last: '/viewer/' (the mount point with its slash) goes to the start page; anything else is unknown.
  app.get('/*', (c) => (c.req.path === '/viewer/' ? c.redirect('/viewer/start') : notFound()));
  return app;
}
