// @ts-check
// The key page: checks the key against the API, keeps it in sessionStorage, goes back where the user was.
import { ApiRequestError, api, describeError, forgetKey, getKey, setKey } from './api-client.js';
import { byId, say } from './dom.js';
import { safeNext } from './navigation.js';

// Any authenticated route answers 401 for a bad key; a run id nobody can own answers 404 for a good one.
const PROBE = '/v1/counterfactuals/cf-viewer-key-check';

const form = byId('key-form', HTMLFormElement);
const input = byId('key', HTMLInputElement);
const next = safeNext(new URLSearchParams(location.search).get('next'));

if (getKey()) say('key-status', 'A key is stored for this tab; enter another one to replace it.');

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const key = input.value.trim();
  if (!key) return say('key-status', 'key: enter the API key you were given', 'error');
  say('key-status', 'Checking the key…');
  try {
    await api(PROBE, { key });
  } catch (err) {
    if (!(err instanceof ApiRequestError) || err.status !== 404) {
      return say('key-status', `The key was not accepted: ${describeError(err)}`, 'error');
    }
  }
  setKey(key);
  input.value = '';
  say('key-status', 'Key accepted.');
  location.assign(next);
});

byId('key-forget').addEventListener('click', () => {
  forgetKey();
  say('key-status', 'The key is forgotten.');
});
