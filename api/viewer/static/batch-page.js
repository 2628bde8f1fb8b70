// @ts-check
// The batch page: polls GET /v1/batches/{id} while the batch runs, then shows the Table 1 report
// (GET /v1/batches/{id}/report?format=json) with its 95% intervals, the per-node-type breakdown, the
// scores against the ground truth for street-world batches, and a grid of sample runs, each linking to
// its run page.
import { ApiRequestError, api, describeError, requireKey } from './api-client.js';
import { byId, el, say } from './dom.js';
import { batchRunPage, idFromPath } from './navigation.js';
import { groundTruthCells, nodeTypeCells, table1Cells } from './report-view.js';

const POLL_MS = 2000;
const SAMPLES = 8;
const TRANSIENT = new Set([0, 429, 502, 503, 504]);
const batchId = idFromPath(location.pathname, 'batches');
const base = `/v1/batches/${encodeURIComponent(batchId ?? '')}`;

/** @param {string} id @param {{ head: string[], rows: string[][] }} cells */
function fillTable(id, cells) {
  const table = byId(id, HTMLTableElement);
  table.tHead?.replaceChildren(
    el(
      'tr',
      {},
      cells.head.map((h) => el('th', { text: h })),
    ),
  );
  table.tBodies[0]?.replaceChildren(
    ...cells.rows.map((r) =>
      el(
        'tr',
        {},
        r.map((c) => el('td', { text: c })),
      ),
    ),
  );
}

/** @param {any} p */
function progressText(p) {
  if (!p) return '';
  return `${p.phase}: ${p.succeeded + p.failed} of ${p.total} runs finished (${p.failed} failed)${p.message ? ` · ${p.message}` : ''}`;
}

async function showReport() {
  const report = await api(`${base}/report?format=json`);
  fillTable('table1', table1Cells(report));
  fillTable('nodetypes', nodeTypeCells(report));
  byId('table1-section').hidden = false;
  byId('nodetype-section').hidden = false;
  const truth = groundTruthCells(report);
  if (truth) {
    fillTable('groundtruth', truth);
    byId('groundtruth-section').hidden = false;
  }
  const notes = [
    `${report.records} evaluation records; ${report.bootstrap?.samples ?? '?'} bootstrap samples`,
    ...(report.warnings ?? []),
  ];
  byId('report-notes').replaceChildren(...notes.map((/** @type {string} */ t) => el('li', { text: t })));
  byId('report-notes-section').hidden = false;
}

async function showSamples() {
  const { samples } = await api(`${base}/samples?limit=${SAMPLES}`);
  byId('samples').replaceChildren(
    ...samples.map((/** @type {any} */ s) => {
      const link = el('a', { attrs: { href: batchRunPage(batchId ?? '', s.runId) } }, [
        s.input?.url
          ? el('img', {
              attrs: {
                src: s.input.url,
                alt: `${s.dataset}/${s.imageId} input`,
                'data-artifact': s.input.key,
              },
            })
          : el('div', { class: 'missing', text: 'no input' }),
      ]);
      const csg = s.output?.url
        ? [
            el('img', {
              attrs: {
                src: s.output.url,
                alt: `${s.dataset}/${s.imageId} ${s.output.method}`,
                'data-artifact': s.output.key,
              },
            }),
          ]
        : [];
      return el('figure', { class: 'sample', attrs: { 'data-run-id': s.runId } }, [
        link,
        ...csg,
        el('figcaption', { text: `${s.dataset}/${s.imageId} · ${s.variant} · ${s.status}` }),
      ]);
    }),
  );
  byId('samples-section').hidden = samples.length === 0;
}

async function poll() {
  let batch;
  try {
    batch = await api(base);
  } catch (err) {
    say('batch-message', describeError(err), 'error');
    if (err instanceof ApiRequestError && TRANSIENT.has(err.status)) setTimeout(poll, POLL_MS * 2);
    return;
  }
  const status = byId('batch-status');
  status.textContent = batch.status;
  status.dataset.status = batch.status;
  byId('batch-progress').textContent = progressText(batch.progress);
  if (batch.status === 'running') {
    setTimeout(poll, POLL_MS);
    return;
  }
  if (batch.error) say('batch-message', `The batch ended ${batch.status}: ${batch.error.message}`, 'error');
  const shown = await Promise.allSettled([showReport(), showSamples()]);
  const failed = shown
    .filter((s) => s.status === 'rejected')
    .map((s) => describeError(/** @type {PromiseRejectedResult} */ (s).reason));
  if (failed.length > 0) say('batch-message', failed.join('; '), 'error');
  document.body.dataset.loaded = 'report';
}

if (!batchId) {
  say(
    'batch-message',
    `the address ${location.pathname} names no batch; expected /viewer/batches/<batch id>`,
    'error',
  );
} else if (requireKey()) {
  byId('batch-id').textContent = batchId;
  poll();
}
