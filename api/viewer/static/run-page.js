// @ts-check
// The run page: polls GET /v1/counterfactuals/{id} while the run is going (progress, cancel), then reads
// the manifest (GET …/manifest) and shows the input, the causal graph laid out by ELK with the chosen
// intervention marked, the counterfactuals side by side and the stages.
import { ApiRequestError, api, describeError, requireKey } from './api-client.js';
import { byId, el, say } from './dom.js';
import { fraction } from './format.js';
import { drawGraph, markGraph } from './graph-draw.js';
import { elkInput, graphMarks } from './graph-model.js';
import { runTarget } from './navigation.js';
import { interventionBlock } from './run-results.js';

const POLL_MS = 1000;
const MANIFEST_RETRIES = 15;
/** Status codes worth asking again: no network, rate limited, a backing service down. */
const TRANSIENT = new Set([0, 429, 502, 503, 504]);

const target = runTarget(location.pathname);
const runId = target?.runId ?? null;
// A run of a batch is read through its batch (same owner); it has no status or cancel of its own here.
const runBase =
  target?.kind === 'batch-run'
    ? `/v1/batches/${encodeURIComponent(target.batchId)}/runs/${encodeURIComponent(target.runId)}`
    : `/v1/counterfactuals/${encodeURIComponent(runId ?? '')}`;
const statusNode = byId('run-status');
const cancel = byId('cancel', HTMLButtonElement);

/** @param {string} status */
function showStatus(status) {
  statusNode.textContent = status;
  statusNode.dataset.status = status;
  document.title = `Run ${runId} (${status}) · FM-CGM viewer`;
}

/** @param {any} progress */
function showProgress(progress) {
  byId('progress-section').hidden = false;
  if (!progress) {
    byId('progress-text').textContent = 'waiting for the workflow to report progress';
    return;
  }
  const bar = byId('progress-bar', HTMLProgressElement);
  bar.value = fraction(progress.outputs);
  const judged = progress.judged?.total ? ` · judged ${progress.judged.done}/${progress.judged.total}` : '';
  byId('progress-text').textContent =
    `phase ${progress.phase} · outputs ${progress.outputs?.done ?? 0}/${progress.outputs?.total ?? 0}${judged}` +
    (progress.message ? ` · ${progress.message}` : '');
  byId('progress-stages').replaceChildren(
    ...Object.entries(progress.stages ?? {}).map(([stage, s]) =>
      el('li', {
        class: `stage ${s.status}`,
        text: `${stage}: ${s.status}${s.message ? ` (${s.message})` : ''}`,
      }),
    ),
  );
}

/** @param {any} manifest */
async function showGraph(manifest) {
  const record = manifest.graph;
  const picker = byId('intervention-picker');
  const container = byId('graph');
  if (!record) return;
  byId('graph-section').hidden = false;
  const ELK = /** @type {any} */ (window).ELK;
  if (typeof ELK !== 'function') throw new Error('the graph layout library (elkjs) did not load');
  const layout = await new ELK().layout(elkInput(record));
  const svg = drawGraph(layout, record);
  container.replaceChildren(svg);

  /** @type {any[]} */
  const records = manifest.interventions;
  const choose = (/** @type {number} */ i) => {
    markGraph(svg, record, graphMarks(record, records[i] ?? null));
    for (const a of document.querySelectorAll('article.intervention'))
      a.classList.toggle('selected', a.getAttribute('data-intervention-id') === records[i]?.intervention.id);
  };
  picker.replaceChildren(
    ...records.map((r, i) => {
      const radio = el('input', {
        attrs: { type: 'radio', name: 'intervention', value: r.intervention.id, checked: i === 0 },
      });
      radio.addEventListener('change', () => choose(i));
      const iv = r.intervention;
      return el('label', { class: 'pick' }, [
        radio,
        ` ${iv.id}: do(${iv.target_concept_name || iv.target_concept_id} = ${iv.new_value})`,
      ]);
    }),
  );
  choose(0);

  const notes = [
    ...record.issues.map((/** @type {any} */ i) => `issue ${i.code}: ${i.message}`),
    ...record.repairs.map(
      (/** @type {any} */ r) => `repair ${r.kind} (${r.cause_id} → ${r.effect_id}): ${r.reason}`,
    ),
  ];
  byId('graph-notes').replaceChildren(
    ...(notes.length > 0 ? notes : [`graph from the ${record.source}; no issues, no repairs`]).map((t) =>
      el('li', { text: t }),
    ),
  );
}

/** @param {any} manifest */
async function showManifest(manifest) {
  if (manifest.status) showStatus(manifest.status);
  byId('input-section').hidden = false;
  const input = byId('input-image', HTMLImageElement);
  if (manifest.input.image.url) input.src = manifest.input.image.url;
  const caption = manifest.input.caption ?? manifest.basePrompt?.text ?? '';
  const source =
    manifest.input.caption !== null ? 'caption' : manifest.basePrompt ? 'VLM description' : 'no caption';
  byId('input-caption').textContent = caption ? `${source}: ${caption}` : source;

  const results = byId('results');
  results.replaceChildren(
    ...manifest.interventions.map((/** @type {any} */ r) =>
      interventionBlock(r, {
        outputs: manifest.outputs,
        plans: manifest.plans,
        original: manifest.input.preprocessed ?? manifest.input.image,
      }),
    ),
  );
  byId('results-section').hidden = manifest.interventions.length === 0;

  byId('stages-section').hidden = false;
  byId('stages')
    .querySelector('tbody')
    ?.replaceChildren(
      ...Object.entries(manifest.stages).map(([stage, s]) =>
        el('tr', { class: `stage ${/** @type {any} */ (s).status}` }, [
          el('td', { text: stage }),
          el('td', { text: /** @type {any} */ (s).status }),
          el('td', { text: /** @type {any} */ (s).message ?? '' }),
        ]),
      ),
    );
  await showGraph(manifest);
  document.body.dataset.loaded = 'manifest';
}

async function loadManifest(attempt = 0) {
  try {
    await showManifest(await api(`${runBase}/manifest`));
  } catch (err) {
    // The manifest is written just before the run closes; a moment's wait covers the gap.
    if (err instanceof ApiRequestError && err.status === 409 && attempt < MANIFEST_RETRIES) {
      setTimeout(() => loadManifest(attempt + 1), POLL_MS);
      return;
    }
    say('run-message', `The manifest cannot be shown: ${describeError(err)}`, 'error');
  }
}

async function poll() {
  let run;
  try {
    run = await api(runBase);
  } catch (err) {
    say('run-message', describeError(err), 'error');
    if (err instanceof ApiRequestError && TRANSIENT.has(err.status)) setTimeout(poll, POLL_MS * 3);
    return;
  }
  showStatus(run.status);
  if (run.status === 'running') {
    cancel.hidden = false;
    showProgress(run.progress);
    setTimeout(poll, POLL_MS);
    return;
  }
  cancel.hidden = true;
  byId('progress-section').hidden = true;
  if (run.error) say('run-message', `The run ended ${run.status}: ${run.error.message}`, 'error');
  else say('run-message', `The run ended ${run.status}.`);
  await loadManifest();
}

cancel.addEventListener('click', async () => {
  cancel.disabled = true;
  try {
    await api(runBase, { method: 'DELETE' });
    say('run-message', 'Cancellation requested; the run writes its manifest and stops.');
  } catch (err) {
    say('run-message', `The run was not cancelled: ${describeError(err)}`, 'error');
    cancel.disabled = false;
  }
});

if (!target) {
  say(
    'run-message',
    `the address ${location.pathname} names no run; expected /viewer/runs/<run id>`,
    'error',
  );
} else if (requireKey()) {
  byId('run-id').textContent = target.runId;
  if (target.kind === 'batch-run') {
    say('run-message', `a run of batch ${target.batchId}`);
    loadManifest();
  } else poll();
}
