// @ts-check
// Paths of the viewer's pages. Pure: no DOM, so the unit tests import it as is.

export const KEY_PAGE = '/viewer/key';
export const START_PAGE = '/viewer/start';

/** Where the key page may send the user back to: viewer pages of this origin only (no open redirect). */
export function safeNext(/** @type {string | null | undefined} */ next) {
  if (typeof next !== 'string') return START_PAGE;
  if (!/^\/viewer\/[A-Za-z0-9._~/-]*(\?[A-Za-z0-9._~=&%-]*)?$/.test(next) || next.includes('//'))
    return START_PAGE;
  if (next.startsWith(KEY_PAGE)) return START_PAGE;
  return next;
}

export const keyPageFor = (/** @type {string} */ next) => `${KEY_PAGE}?next=${encodeURIComponent(next)}`;

export const runPage = (/** @type {string} */ id) => `/viewer/runs/${encodeURIComponent(id)}`;
export const batchPage = (/** @type {string} */ id) => `/viewer/batches/${encodeURIComponent(id)}`;

/**
 * The id in /viewer/<kind>/<id>, or null.
 * @param {string} pathname
 * @param {'runs' | 'batches'} kind
 */
export function idFromPath(pathname, kind) {
  const m = pathname.match(new RegExp(`^/viewer/${kind}/([^/]+)/?$`));
  if (!m) return null;
  try {
    return decodeURIComponent(m[1]);
  } catch {
    return null;
  }
}

/** A run of a batch: its id holds slashes (batch/variant/dataset/image), kept in one path segment. */
export const batchRunPage = (/** @type {string} */ batchId, /** @type {string} */ runId) =>
  `/viewer/batches/${encodeURIComponent(batchId)}/runs/${encodeURIComponent(runId)}`;

/**
 * Which run the run page shows and where its data comes from: a run of this key, or a run of a batch.
 * @param {string} pathname
 * @returns {{ kind: 'run', runId: string } | { kind: 'batch-run', batchId: string, runId: string } | null}
 */
export function runTarget(pathname) {
  const own = idFromPath(pathname, 'runs');
  if (own) return { kind: 'run', runId: own };
  const m = pathname.match(/^\/viewer\/batches\/([^/]+)\/runs\/([^/]+)\/?$/);
  if (!m) return null;
  try {
    return { kind: 'batch-run', batchId: decodeURIComponent(m[1]), runId: decodeURIComponent(m[2]) };
  } catch {
    return null;
  }
}

export const TRIGGERS_PAGE = '/viewer/triggers';
export const triggerPage = (/** @type {string} */ id) => `${TRIGGERS_PAGE}/${encodeURIComponent(id)}`;

/** The trigger id in /viewer/triggers/<id>, or null on the list page (or a malformed path). */
export function triggerIdFromPath(/** @type {string} */ pathname) {
  const m = pathname.match(/^\/viewer\/triggers\/(trg_[0-9a-f]{24})\/?$/);
  return m ? m[1] : null;
}
