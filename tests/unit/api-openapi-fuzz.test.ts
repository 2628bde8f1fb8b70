// Requests generated from the documented request schemas of POST /v1/counterfactuals and POST
// /v1/batches (tests/support/openapi-arbitrary.ts), sent to the in-memory API: every answer has one of
// the operation's documented statuses and an error code of the documented list, and no request that the
// document admits is refused for a rule the document could state but does not (validation_error,
// unknown_field): what is refused is refused for the checks the descriptions name (uploads that do not
// exist, a graph that is not a DAG, an intervention naming no concept, a webhook host that is not
// public https).
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import type { LookupFn } from '../../core/webhooks/url-policy.js';
import { memoryApiWithUpload } from '../support/memory-api.js';
import { arbitraryFor } from '../support/openapi-arbitrary.js';

// biome-ignore lint/suspicious/noExplicitAny: the document is navigated freely
type Doc = any;

const KEY = 'cgm_fuzz_key_0123456789';
/** Every name resolves to one public address; nothing leaves the process. */
const lookup: LookupFn = async () => [{ address: '93.184.216.34', family: 4 }];
const RUNS = 150;

let app: Awaited<ReturnType<typeof memoryApiWithUpload>>['app'];
let doc: Doc;
let sha: string;

beforeAll(async () => {
  ({ app, sha } = await memoryApiWithUpload(KEY, {
    config: { rateLimit: { perMinute: 100_000, burst: 100_000 } },
    lookup,
  }));
  doc = await (await app.request('/openapi.json')).json();
});

/** The component schemas a schema reaches through $ref, itself included. */
function reachable(schema: Doc, out = new Set<Doc>()): Set<Doc> {
  const walk = (node: Doc) => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node && typeof node === 'object')
      for (const [k, v] of Object.entries(node)) {
        if (k === '$ref' && typeof v === 'string') {
          const target = doc.components.schemas[v.split('/').at(-1)!];
          if (!out.has(target)) {
            out.add(target);
            walk(target);
          }
        } else walk(v);
      }
  };
  walk(schema);
  return out;
}

/** Codes that mean "the document admits this request but validation does not". */
const UNDOCUMENTED_RULE = new Set(['validation_error', 'unknown_field', 'malformed_json', 'malformed_body']);

async function fuzz(path: string, seed: number) {
  const op = doc.paths[path].post;
  const schema = op.requestBody.content['application/json'].schema;
  // A stateful fuzzer names the image it uploaded most of the time, and sometimes any hash.
  const image = fc.oneof(
    { weight: 4, arbitrary: fc.constant({ sha256: sha }) },
    { weight: 1, arbitrary: fc.stringMatching(/^[0-9a-f]{64}$/).map((sha256) => ({ sha256 })) },
  );
  const bodies = arbitraryFor(doc, schema, { overrides: { ImageByHash: image } });
  const documented = Object.keys(op.responses);
  const codes = new Set(doc.components.schemas.Error.properties.error.properties.code.enum as string[]);
  const seen = new Map<string, number>();
  await fc.assert(
    fc.asyncProperty(bodies, async (body) => {
      const res = await app.request(path, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const json: Doc = await res.json();
      const what = `${res.status} ${JSON.stringify(json).slice(0, 300)} for ${JSON.stringify(body).slice(0, 600)}`;
      expect(documented, what).toContain(String(res.status));
      if (res.status >= 400) {
        expect(codes.has(json.error.code), what).toBe(true);
        expect(UNDOCUMENTED_RULE.has(json.error.code), what).toBe(false);
      }
      const key = res.status >= 400 ? json.error.code : String(res.status);
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }),
    { numRuns: RUNS, seed },
  );
  // Every refusal's code is one the document names for this operation's request (its checks beyond
  // JSON Schema are stated in the descriptions).
  const stated = JSON.stringify([op, ...reachable(schema)]);
  for (const code of seen.keys()) if (code !== '202') expect(stated, `code ${code}`).toContain(code);
  return seen;
}

describe('requests generated from the documented schemas', () => {
  it('POST /v1/counterfactuals: documented statuses and codes only, no rule the document leaves out', async () => {
    const seen = await fuzz('/v1/counterfactuals', 11);
    // Random graphs are mostly not DAGs over their own concepts; enough requests still go through.
    expect(seen.get('202') ?? 0, JSON.stringify([...seen])).toBeGreaterThanOrEqual(5);
  });

  it('POST /v1/batches: documented statuses and codes only, no rule the document leaves out', async () => {
    const seen = await fuzz('/v1/batches', 12);
    expect(seen.get('202') ?? 0, JSON.stringify([...seen])).toBeGreaterThanOrEqual(5);
  });
});
