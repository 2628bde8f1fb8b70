// `cgm extract` / `cgm propose` run outside Temporal, so nothing retries a rate-limited VLM call for them
// (in the workflow, the activity's retry policy does, after the server's Retry-After). This transport
// wrapper waits and retries HTTP 429 itself, within a stated bound: at most RATE_LIMIT_TRIES calls, each
// wait the server's Retry-After (else 1 s), capped at 60 s. After the last try the 429 goes through and
// is reported as the rate-limit failure it is.
import { APIError } from 'openai';
import { parseRetryAfter, type VlmTransport } from '../activities/vlm/index.js';

export const RATE_LIMIT_TRIES = 5;
const DEFAULT_WAIT_MS = 1000;
const MAX_WAIT_MS = 60_000;

export interface RateLimitOptions {
  tries?: number;
  log?: (line: string) => void;
  sleep?: (ms: number) => Promise<void>;
}

const sleepMs = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function retryRateLimits(transport: VlmTransport, options: RateLimitOptions = {}): VlmTransport {
  const tries = options.tries ?? RATE_LIMIT_TRIES;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const sleep = options.sleep ?? sleepMs;
  return {
    settings: transport.settings,
    async chat(request) {
      for (let attempt = 1; ; attempt++) {
        try {
          return await transport.chat(request);
        } catch (err) {
          if (!(err instanceof APIError) || err.status !== 429 || attempt >= tries) throw err;
          const given = parseRetryAfter(err.headers);
          const wait = Math.min(MAX_WAIT_MS, given ?? DEFAULT_WAIT_MS);
          log(
            `cgm: the VLM server is rate limiting (HTTP 429); waiting ${wait} ms${given === undefined ? '' : ' (Retry-After)'}, then try ${attempt + 1} of ${tries}`,
          );
          await sleep(wait);
        }
      }
    },
  };
}
