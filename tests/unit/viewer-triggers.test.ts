// The triggers page of the viewer: its shell at both paths, and its pure modules (the trigger id in
// the path, the table cells of triggers and of a trigger's runs) as the browser imports them.
import { describe, expect, it } from 'vitest';
import { createApp } from '../../api/app.js';
import { defaultApiConfig } from '../../api/config.js';
import { createMemoryImageStore } from '../../api/images.js';
import { createMemoryRunStarter } from '../../api/runs/memory.js';

// A computed specifier keeps tsc from resolving the JS (no declarations); values are navigated freely.
const load = (name: string) => import(new URL(`../../api/viewer/static/${name}`, import.meta.url).href);
const navigation = await load('navigation.js');
const rows = await load('trigger-rows.js');

const ID = 'trg_0123456789abcdef01234567';

describe('viewer triggers page', () => {
  it('serves the list at /viewer/triggers and one trigger at /viewer/triggers/<id>, nothing else', async () => {
    const app = createApp({
      config: defaultApiConfig(),
      images: createMemoryImageStore(),
      runs: createMemoryRunStarter(),
    });
    for (const path of ['/viewer/triggers', `/viewer/triggers/${ID}`]) {
      const res = await app.request(path);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('/viewer/static/triggers-page.js');
    }
    expect((await app.request(`/viewer/triggers/${ID}x`)).status).toBe(404);
  });

  it('reads the trigger id from the path, and only a well-formed one', () => {
    expect(navigation.triggerIdFromPath(`/viewer/triggers/${ID}`)).toBe(ID);
    expect(navigation.triggerIdFromPath(`/viewer/triggers/${ID}/`)).toBe(ID);
    expect(navigation.triggerIdFromPath('/viewer/triggers')).toBeNull();
    expect(navigation.triggerIdFromPath('/viewer/triggers/trg_%2e%2e')).toBeNull();
    expect(navigation.triggerPage(ID)).toBe(`/viewer/triggers/${ID}`);
  });

  it('tabulates triggers and their runs', () => {
    const trigger = {
      id: ID,
      name: 'inbox',
      createdAt: '2026-12-06T10:00:00.123Z',
      source: { kind: 's3-events' },
      image: { from: 's3-record' },
      allow: { buckets: [{ bucket: 'inbox', prefix: 'new/' }], urlHosts: [] },
      paused: true,
    };
    expect(rows.triggerCells([trigger])).toEqual({
      head: ['Trigger', 'Name', 'Source', 'Image from', 'State', 'Created'],
      rows: [
        {
          id: ID,
          cells: [
            ID,
            'inbox',
            's3-events',
            'S3 event records (s3://inbox/new/*)',
            'paused',
            '2026-12-06 10:00:00Z',
          ],
        },
      ],
    });
    expect(
      rows.imageFrom({
        image: { from: 'url', pointer: '/data/url' },
        allow: { buckets: [], urlHosts: ['a.example', '*.b.example'] },
      }),
    ).toBe('URL at /data/url (hosts a.example, *.b.example)');
    const run = {
      id: 'cf-trg-abc',
      status: 'succeeded',
      createdAt: null,
      source: 's3://inbox/new/a.png',
      deliveryId: 's3:x@1',
    };
    expect(rows.triggerRunCells([run]).rows).toEqual([
      { id: 'cf-trg-abc', cells: ['cf-trg-abc', 'succeeded', '-', 's3://inbox/new/a.png', 's3:x@1'] },
    ]);
  });
});
