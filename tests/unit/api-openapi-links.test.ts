import { beforeAll, describe, expect, it } from 'vitest';
import { memoryApiWithUpload } from '../support/memory-api.js';

// The document is navigated freely; a wrong path fails the assertion.
// biome-ignore lint/suspicious/noExplicitAny: see above
type Doc = any;

const KEY = 'cgm_links_key_0123456789';
const auth = { authorization: `Bearer ${KEY}` };
let app: Awaited<ReturnType<typeof memoryApiWithUpload>>['app'];
let doc: Doc;
let sha: string;

beforeAll(async () => {
  ({ app, sha } = await memoryApiWithUpload(KEY));
  doc = await (await app.request('/openapi.json')).json();
});

/** Every operation of the document by its operationId. */
function operations(): Map<string, { method: string; path: string; op: Doc }> {
  const out = new Map<string, { method: string; path: string; op: Doc }>();
  for (const [path, item] of Object.entries(doc.paths as Record<string, Doc>))
    for (const [method, op] of Object.entries(item as Record<string, Doc>))
      if (op?.operationId) out.set(op.operationId, { method, path, op });
  return out;
}

/** A runtime expression of a link: `$response.body#/json/pointer` or `$request.path.name`. */
function evaluate(expr: string, body: Doc, requestPath: Record<string, string>): string {
  if (expr.startsWith('$response.body#')) {
    const pointer = expr.slice('$response.body#'.length).split('/').slice(1);
    const value = pointer.reduce((v: Doc, k) => v?.[k.replace(/~1/g, '/').replace(/~0/g, '~')], body);
    expect(value, expr).toBeTypeOf('string');
    return value;
  }
  const m = /^\$request\.path\.(\w+)$/.exec(expr);
  expect(m, expr).not.toBeNull();
  return requestPath[m![1]];
}

async function follow(from: string, res: Response, requestPath: Record<string, string>, seen: string[]) {
  const ops = operations();
  const source = ops.get(from)!;
  const status = String(res.status);
  const links = source.op.responses[status]?.links ?? {};
  const body = await res.json();
  for (const [name, link] of Object.entries(links as Record<string, Doc>)) {
    const target = ops.get(link.operationId);
    expect(target, `${from} → ${name}: operation ${link.operationId} is in the document`).toBeDefined();
    const params = Object.fromEntries(
      Object.entries(link.parameters as Record<string, string>).map(([k, e]) => [
        k,
        evaluate(e, body, requestPath),
      ]),
    );
    const declared = (target!.op.parameters ?? [])
      .filter((p: Doc) => p.in === 'path')
      .map((p: Doc) => p.name);
    expect(Object.keys(params).sort(), `${link.operationId} path parameters`).toEqual([...declared].sort());
    const url = target!.path.replace(/\{(\w+)\}/g, (_: string, k: string) => encodeURIComponent(params[k]));
    const answer = await app.request(url, { method: target!.method.toUpperCase(), headers: auth });
    expect(Object.keys(target!.op.responses), `${link.operationId} answered ${answer.status}`).toContain(
      String(answer.status),
    );
    expect(answer.status, `${from} → ${link.operationId} (${url})`).not.toBe(404);
    seen.push(link.operationId);
    await follow(link.operationId, answer, params, seen);
  }
}

describe('OpenAPI links', () => {
  it('lead from POST /v1/counterfactuals to the run’s status, cancel and manifest operations', async () => {
    const res = await app.request('/v1/counterfactuals', {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ image: { sha256: sha }, caption: 'a grey street' }),
    });
    expect(res.status, await res.clone().text()).toBe(202);
    const seen: string[] = [];
    await follow('startCounterfactual', res, {}, seen);
    expect(seen.sort()).toEqual(['cancelCounterfactual', 'getCounterfactual', 'getCounterfactualManifest']);
  });

  it('lead from POST /v1/batches to the batch, its report and its samples', async () => {
    const res = await app.request('/v1/batches', {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({
        images: [
          {
            dataset: 'coco',
            id: '1',
            image: { sha256: sha },
            caption: 'x',
            captionRule: 'coco:lowest-annotation-id',
          },
        ],
      }),
    });
    expect(res.status, await res.clone().text()).toBe(202);
    const seen: string[] = [];
    await follow('startBatch', res, {}, seen);
    expect(seen.sort()).toEqual(['getBatch', 'getBatchReport', 'getBatchSamples']);
    // The samples link on to each run's manifest once the batch has samples (a finished batch).
    const samples = operations().get('getBatchSamples')!.op.responses['200'].links;
    expect(samples.GetBatchRunManifest.operationId).toBe('getBatchRunManifest');
  });

  it('name only operations that exist, with the path parameters they declare', () => {
    const ops = operations();
    let links = 0;
    for (const { op } of ops.values())
      for (const response of Object.values(op.responses as Record<string, Doc>))
        for (const link of Object.values((response.links ?? {}) as Record<string, Doc>)) {
          links++;
          const target = ops.get(link.operationId);
          expect(target, link.operationId).toBeDefined();
          const declared = target!.op.parameters.filter((p: Doc) => p.in === 'path').map((p: Doc) => p.name);
          expect(Object.keys(link.parameters).sort()).toEqual(declared.sort());
        }
    expect(links).toBe(10);
  });
});
