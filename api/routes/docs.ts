// /openapi.json (generated from the zod schemas) and /docs, a self-contained HTML page rendered from
// that same document (no CDN: the API must work offline).
import type { OpenAPIHono } from '@hono/zod-openapi';
import { ERROR_CODES } from '../errors.js';
import type { AuthEnv } from '../middleware/auth.js';

export const OPENAPI_INFO = {
  openapi: '3.0.3',
  info: {
    title: 'FM-CGM API',
    version: '0.1.0',
    description:
      'Causal counterfactual images as durable runs. Authenticate with `Authorization: Bearer <key>`. ' +
      'Errors are `{"error": {"code", "message", "field"}}`; see the code table at /docs.',
  },
};

const esc = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!,
  );

type Doc = ReturnType<OpenAPIHono['getOpenAPIDocument']>;

export function renderDocsHtml(doc: Doc): string {
  const ops: string[] = [];
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const method of ['get', 'post', 'delete', 'put', 'patch'] as const) {
      const op = (
        item as Record<
          string,
          { summary?: string; description?: string; responses?: object; requestBody?: { content?: object } }
        >
      )[method];
      if (!op) continue;
      const types = Object.keys(op.requestBody?.content ?? {}).join(', ');
      ops.push(
        `<section><h3><code>${method.toUpperCase()} ${esc(path)}</code></h3><p>${esc(op.summary ?? '')}</p>` +
          (op.description ? `<p>${esc(op.description)}</p>` : '') +
          (types ? `<p>body: <code>${esc(types)}</code></p>` : '') +
          `<p>responses: ${Object.keys(op.responses ?? {})
            .map((s) => `<code>${esc(s)}</code>`)
            .join(' ')}</p></section>`,
      );
    }
  }
  const codes = Object.entries(ERROR_CODES)
    .map(([code, status]) => `<tr><td>${status}</td><td><code>${code}</code></td></tr>`)
    .join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(doc.info.title)}</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}code{background:#f3f3f3;padding:0 .2em}section{border-top:1px solid #ddd}table{border-collapse:collapse}td{padding:.2em .8em;border:1px solid #ddd}</style>
</head><body><h1>${esc(doc.info.title)} ${esc(doc.info.version)}</h1><p>${esc(doc.info.description ?? '')}</p>
<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (schemas of every body).</p>
${ops.join('\n')}
<h2>Error codes</h2><table><tr><th>status</th><th>code</th></tr>${codes}</table></body></html>`;
}

/** The whole app's documentation, so it is served from the root app, after every sub-app is mounted. */
export function serveDocs(app: OpenAPIHono<AuthEnv>): void {
  app.openAPIRegistry.registerComponent('securitySchemes', 'apiKey', { type: 'http', scheme: 'bearer' });
  app.doc('/openapi.json', OPENAPI_INFO);
  app.get('/docs', (c) => c.html(renderDocsHtml(app.getOpenAPIDocument(OPENAPI_INFO))));
}
