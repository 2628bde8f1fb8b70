// @ts-check
// Calls to the API with the key the user typed once. The key lives in sessionStorage (this tab only,
// gone when it closes) and travels only in the Authorization header.
import { keyPageFor } from './navigation.js';

const STORAGE_KEY = 'cgm.viewer.apiKey';

export const getKey = () => sessionStorage.getItem(STORAGE_KEY);
export const setKey = (/** @type {string} */ key) => sessionStorage.setItem(STORAGE_KEY, key);
export const forgetKey = () => sessionStorage.removeItem(STORAGE_KEY);

/** An API error body {error: {code, message, field}}, or a transport failure (status 0). */
export class ApiRequestError extends Error {
  /** @param {number} status @param {string} code @param {string} message @param {string | null} field */
  constructor(status, code, message, field) {
    super(message);
    this.name = 'ApiRequestError';
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

/** "message (field: x)" for a status line. @param {unknown} err */
export function describeError(err) {
  if (err instanceof ApiRequestError)
    return `${err.message}${err.field ? ` (field: ${err.field})` : ''} [${err.code}]`;
  return err instanceof Error ? err.message : String(err);
}

/** The stored key; without one, the user is sent to the key page and null is returned. */
export function requireKey() {
  const key = getKey();
  if (!key) location.assign(keyPageFor(location.pathname + location.search));
  return key;
}

/**
 * JSON from the API. A 401 forgets the key and goes to the key page.
 * @param {string} path
 * @param {{ method?: string, body?: BodyInit, headers?: Record<string, string>, key?: string }} [init]
 * @returns {Promise<any>}
 */
export async function api(path, init = {}) {
  const key = init.key ?? requireKey();
  if (!key)
    throw new ApiRequestError(
      401,
      'unauthorized',
      'no API key yet: enter it on the key page',
      'authorization',
    );
  let res;
  try {
    res = await fetch(path, {
      method: init.method ?? 'GET',
      body: init.body,
      headers: { ...init.headers, Authorization: `Bearer ${key}` },
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch (err) {
    throw new ApiRequestError(0, 'network', `the API cannot be reached: ${describeError(err)}`, null);
  }
  const text = await res.text();
  /** @type {any} */
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (res.ok) return body;
  if (res.status === 401 && !init.key) {
    forgetKey();
    location.assign(keyPageFor(location.pathname + location.search));
  }
  const e = body?.error;
  throw new ApiRequestError(
    res.status,
    typeof e?.code === 'string' ? e.code : `http_${res.status}`,
    typeof e?.message === 'string' ? e.message : `HTTP ${res.status} from ${path}`,
    typeof e?.field === 'string' ? e.field : null,
  );
}
