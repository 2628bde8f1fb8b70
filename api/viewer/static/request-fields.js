// @ts-check
// From the start page's form to the `request` JSON of POST /v1/counterfactuals. Pure, so the unit tests
// import it as is. The API validates everything again; these checks only give earlier, clearer errors.

export class FieldError extends Error {
  /** @param {string} field @param {string} message */
  constructor(field, message) {
    super(`${field}: ${message}`);
    this.name = 'FieldError';
    this.field = field;
  }
}

const DO_LINE = /^do\s*\(\s*([^=()]+?)\s*=\s*([^()]+?)\s*\)$/i;

/**
 * `do(concept = value)` requests, one per line (blank lines ignored).
 * @param {string} text
 * @returns {{ concept: string, value: string }[]}
 */
export function parseDoLines(text) {
  const out = [];
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (!line) continue;
    const m = line.match(DO_LINE);
    if (!m)
      throw new FieldError(
        'do',
        `line ${i + 1} is '${line}'; expected do(concept = value), e.g. do(weather = sunny)`,
      );
    out.push({ concept: m[1], value: m[2] });
  }
  return out;
}

/** @param {string} field @param {string} text @returns {unknown} */
export function parseJsonText(field, text) {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new FieldError(field, `the file is not JSON (${err instanceof Error ? err.message : String(err)})`);
  }
}

/**
 * An integer field, or undefined when left empty.
 * @param {string} field @param {string} text @param {number} min @param {number} max
 */
function optionalInt(field, text, min, max) {
  const t = text.trim();
  if (!t) return undefined;
  const n = Number(t);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new FieldError(field, `'${t}' is not an integer from ${min} to ${max}`);
  return n;
}

/**
 * @typedef {object} StartForm
 * @property {string} caption
 * @property {string | null} graphText the uploaded graph file's text
 * @property {string | null} interventionsText the uploaded interventions file's text
 * @property {string} doText
 * @property {string[]} methods
 * @property {string} steps
 * @property {string} [warmup]
 * @property {string} seed
 */

/** @param {StartForm} form @returns {Record<string, unknown>} */
export function buildRequestFields(form) {
  /** @type {Record<string, unknown>} */
  const fields = {};
  const caption = form.caption.trim();
  if (caption) fields.caption = caption;

  if (form.graphText !== null) fields.graph = parseJsonText('graph', form.graphText);
  if (form.interventionsText !== null) {
    const parsed = /** @type {any} */ (parseJsonText('interventions', form.interventionsText));
    // The paper's Fig. 3 answer wraps the list; a bare list is accepted too.
    const list = Array.isArray(parsed) ? parsed : parsed?.interventions;
    if (!Array.isArray(list) || list.length === 0)
      throw new FieldError(
        'interventions',
        'expected {"interventions": [...]} or a list with at least one intervention',
      );
    fields.interventions = list;
  }
  const dos = parseDoLines(form.doText);
  if (dos.length > 0) fields.do = dos;
  if (fields.interventions && fields.do)
    throw new FieldError('do', 'give either an interventions file or do() lines, not both');
  if ((fields.interventions || fields.do) && !fields.graph)
    throw new FieldError(
      fields.do ? 'do' : 'interventions',
      'interventions refer to a graph; upload the graph JSON too',
    );

  if (form.methods.length === 0) throw new FieldError('methods', 'choose at least one of CSG, DDPM, DDIM');
  fields.methods = form.methods;

  /** @type {Record<string, number>} */
  const settings = {};
  const steps = optionalInt('steps', form.steps, 1, 1000);
  if (steps !== undefined) settings.inversionSteps = steps;
  const warmup = optionalInt('warmup', form.warmup ?? '', 0, 1000);
  if (warmup !== undefined) settings.editWarmupSteps = warmup;
  const seed = optionalInt('seed', form.seed, 0, 2 ** 32 - 1);
  if (seed !== undefined) settings.seed = seed;
  if (Object.keys(settings).length > 0) fields.settings = settings;
  return fields;
}
