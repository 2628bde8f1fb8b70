// @ts-check
// The start page: one multipart POST /v1/counterfactuals (image file + `request` JSON), then the run page.
import { api, describeError, requireKey } from './api-client.js';
import { byId, say } from './dom.js';
import { runPage } from './navigation.js';
import { buildRequestFields, FieldError } from './request-fields.js';

const form = byId('start-form', HTMLFormElement);
const image = byId('image', HTMLInputElement);
const preview = byId('image-preview', HTMLImageElement);
const submit = byId('start-submit', HTMLButtonElement);

/** @param {string} id */
const fileOf = (id) => byId(id, HTMLInputElement).files?.[0] ?? null;
/** @param {string} id */
const textOf = (id) => /** @type {HTMLInputElement | HTMLTextAreaElement} */ (byId(id)).value;
/** @param {string} id */
const readText = async (id) => {
  const f = fileOf(id);
  return f ? f.text() : null;
};

if (requireKey()) {
  image.addEventListener('change', showPreview);
  form.addEventListener('submit', start);
}

function showPreview() {
  const f = image.files?.[0];
  if (preview.src) URL.revokeObjectURL(preview.src);
  if (!f) {
    preview.hidden = true;
    return;
  }
  preview.src = URL.createObjectURL(f);
  preview.hidden = false;
}

/** @param {SubmitEvent} event */
async function start(event) {
  event.preventDefault();
  const file = fileOf('image');
  if (!file) return say('start-status', 'image: choose a PNG, JPEG or WebP file', 'error');
  let fields;
  try {
    fields = buildRequestFields({
      caption: textOf('caption'),
      graphText: await readText('graph'),
      interventionsText: await readText('interventions'),
      doText: textOf('do'),
      methods: [...form.querySelectorAll('input[name="method"]:checked')].map(
        (n) => /** @type {HTMLInputElement} */ (n).value,
      ),
      steps: textOf('steps'),
      warmup: textOf('warmup'),
      seed: textOf('seed'),
    });
  } catch (err) {
    return say('start-status', err instanceof FieldError ? err.message : describeError(err), 'error');
  }
  const body = new FormData();
  body.set('image', file);
  body.set('request', JSON.stringify(fields));
  submit.disabled = true;
  say('start-status', 'Starting the run…');
  try {
    const accepted = await api('/v1/counterfactuals', { method: 'POST', body });
    say('start-status', `Run ${accepted.id} started; opening it…`);
    location.assign(runPage(accepted.id));
  } catch (err) {
    say('start-status', `The run was not started: ${describeError(err)}`, 'error');
    submit.disabled = false;
  }
}
