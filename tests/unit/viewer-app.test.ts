// The viewer's pages and files through app.request(): shells without data or inline script, a strict
// CSP naming the artifact store's origin, a fixed set of files, and module imports that all resolve.
import { describe, expect, it } from 'vitest';
import { createApp } from '../../api/app.js';
import { defaultApiConfig } from '../../api/config.js';
import { createMemoryImageStore, type ImageStore } from '../../api/images.js';
import { createMemoryRunStarter } from '../../api/runs/memory.js';
import { VIEWER_PAGES } from '../../api/viewer/app.js';
import { viewerCsp } from '../../api/viewer/security-headers.js';

const S3_ORIGIN = 'http://s3.test:8333';
// Presigned URLs of a path-style S3 endpoint: the viewer allows images from that origin only.
const images: ImageStore = {
  ...createMemoryImageStore('bucket'),
  presignGet: async (ref) => `${S3_ORIGIN}/${ref.bucket}/${ref.key}?X-Amz-Signature=abc`,
};
const app = createApp({
  config: defaultApiConfig({ keyHashes: [] }),
  images,
  runs: createMemoryRunStarter(),
});

const PAGE_PATHS = [
  '/viewer/key',
  '/viewer/start',
  '/viewer/runs/cf-0123456789ab',
  '/viewer/batches/batch-0123456789',
  '/viewer/triggers/trg_0123456789abcdef01234567',
];

describe('viewer pages', () => {
  it('serves the five shells with a strict CSP and no inline script, style or handler', async () => {
    expect(PAGE_PATHS).toHaveLength(VIEWER_PAGES.length);
    for (const path of PAGE_PATHS) {
      const res = await app.request(path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("script-src 'self';");
      expect(csp).toContain(`img-src 'self' blob: ${S3_ORIGIN};`);
      expect(csp).toContain("default-src 'none'");
      expect(csp).not.toContain('unsafe');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      const html = await res.text();
      for (const tag of html.match(/<script[^>]*>/g) ?? []) expect(tag, path).toMatch(/ src="\/viewer\//);
      expect(html).not.toMatch(/<script[^>]*>[^<]+<\/script>/);
      expect(html).not.toMatch(/\son[a-z]+=/i);
      expect(html).not.toMatch(/\sstyle=/i);
      expect(html).not.toMatch(/<style/i);
    }
  });

  it('refuses malformed ids and unknown files with 404, without touching the file system', async () => {
    for (const path of [
      '/viewer/runs/not-a-run',
      '/viewer/batches/..%2f..%2fetc',
      '/viewer/static/..%2fapp.ts',
      '/viewer/static/app.ts',
      '/viewer/static/missing.js',
      '/viewer/triggers/trg_NOT-HEX',
    ]) {
      const res = await app.request(path);
      expect(res.status, path).toBe(404);
    }
    const root = await app.request('/viewer/');
    expect(root.status).toBe(302);
    expect(root.headers.get('location')).toBe('/viewer/start');
  });

  it('serves every script and stylesheet the pages name, and every module they import', async () => {
    const seen = new Set<string>();
    const queue: string[] = [];
    for (const path of PAGE_PATHS) {
      const html = await (await app.request(path)).text();
      for (const m of html.matchAll(/(?:src|href)="(\/viewer\/(?:static|vendor)\/[^"]+)"/g)) queue.push(m[1]);
    }
    while (queue.length > 0) {
      const path = queue.shift()!;
      if (seen.has(path)) continue;
      seen.add(path);
      const res = await app.request(path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type')).toMatch(
        path.endsWith('.css') ? /^text\/css/ : /^text\/javascript/,
      );
      const text = await res.text();
      if (path.includes('/static/') && path.endsWith('.js')) {
        // No markup from strings: data is inserted with textContent and setAttribute only.
        expect(text, path).not.toMatch(
          /innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/,
        );
        for (const m of text.matchAll(/from '\.\/([a-z-]+\.js)'/g)) queue.push(`/viewer/static/${m[1]}`);
      }
    }
    expect(seen).toContain('/viewer/vendor/elk.bundled.js');
    expect(seen).toContain('/viewer/static/graph-model.js');
    expect(seen.size).toBeGreaterThan(10);
  });
});

describe('viewerCsp', () => {
  it('leaves the image origin out when the store has none (in-memory store)', () => {
    expect(viewerCsp({ imageOrigin: null })).toContain("img-src 'self' blob:;");
  });
});
