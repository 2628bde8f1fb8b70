// @ts-check
// The triggers page: /viewer/triggers lists this key's triggers; /viewer/triggers/<id> shows one and the
// runs its deliveries started, each linking to its run page. Refreshes while the page is open.
import { api, describeError, requireKey } from './api-client.js';
import { byId, el, say } from './dom.js';
import { runPage, triggerIdFromPath, triggerPage } from './navigation.js';
import { triggerCells, triggerRunCells } from './trigger-rows.js';

const REFRESH_MS = 5000;
const triggerId = triggerIdFromPath(location.pathname);

/**
 * @param {string} id
 * @param {{ head: string[], rows: { id: string, cells: string[] }[] }} cells
 * @param {(id: string) => string} link where the first cell of a row links to
 */
function fillTable(id, cells, link) {
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
        r.cells.map((c, i) =>
          el('td', {}, [i === 0 ? el('a', { text: c, attrs: { href: link(r.id) } }) : c]),
        ),
      ),
    ),
  );
}

async function showList() {
  const { triggers } = await api('/v1/triggers');
  fillTable('triggers', triggerCells(triggers), triggerPage);
  byId('triggers-section').hidden = false;
  say(
    'triggers-status',
    triggers.length === 0 ? 'No triggers yet: create one with `cgm triggers create`.' : '',
  );
}

/** @param {string} id */
async function showTrigger(id) {
  const trigger = await api(`/v1/triggers/${encodeURIComponent(id)}`);
  byId('trigger-title').textContent = `Trigger ${trigger.name}`;
  fillTable('triggers', triggerCells([trigger]), triggerPage);
  byId('triggers-section').hidden = false;
  const { runs } = await api(`/v1/triggers/${encodeURIComponent(id)}/runs`);
  fillTable('trigger-runs', triggerRunCells(runs), runPage);
  byId('runs-section').hidden = false;
  say('triggers-status', runs.length === 0 ? 'No deliveries have started a run yet.' : '');
}

async function refresh() {
  try {
    if (triggerId) await showTrigger(triggerId);
    else await showList();
  } catch (err) {
    say('triggers-status', describeError(err), 'error');
  }
}

if (requireKey()) {
  await refresh();
  setInterval(refresh, REFRESH_MS);
}
