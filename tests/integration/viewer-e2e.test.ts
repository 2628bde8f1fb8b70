// The run viewer end to end in headless Chromium (Debian's chromium driven by playwright-core) against
// the real local stack: Temporal dev server + SeaweedFS (global setup), in-process light and GPU workers
// on the tiny model, a fake OpenAI-compatible VLM that answers the judge, and the Hono app on a loopback
// port. The page takes the key, starts a run with the bundled example, follows it to the end and shows
// the graph, the images, the masks and the judge's answers; a caption with markup stays text. A run
// started with do() lines is propagated by the VLM and stopped with the page's cancel button.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { S3Client } from '@aws-sdk/client-s3';
import { serve } from '@hono/node-server';
import { Client, Connection } from '@temporalio/client';
import {
  bundleWorkflowCode,
  DefaultLogger,
  NativeConnection,
  Runtime,
  type Worker,
} from '@temporalio/worker';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { judgeChecklist } from '../../activities/vlm/judge.js';
import { createLightWorker, WORKFLOWS_PATH } from '../../activities/worker.js';
import { createApp } from '../../api/app.js';
import { defaultApiConfig } from '../../api/config.js';
import { createS3ImageStore } from '../../api/images.js';
import { hashApiKey } from '../../api/middleware/auth.js';
import { createTemporalRunStarter } from '../../api/runs/temporal.js';
import { createArtifactStore, createS3Client, sha256Hex } from '../../core/artifacts/index.js';
import { BATCH_PROGRESS_QUERY, type BatchInput } from '../../core/schemas/batch-io.js';
import { ConceptGraphSchema, InterventionSetSchema } from '../../core/schemas/paper.js';
import { RunManifestSchema } from '../../core/schemas/run-manifest.js';
import { type GpuEngine, startEngine } from '../../gpu-worker/activities/engine.js';
import { createGpuWorkers, type GpuWorkers } from '../../gpu-worker/worker.js';
import {
  chatCompletion,
  type FakeVlmServer,
  recorded,
  recordedContent,
  startFakeVlmServer,
} from '../support/fake-vlm-server.js';
import { ensureTinyFixtures } from '../support/fixtures.js';

const services = inject('cgmServices');
const EXAMPLE = fileURLToPath(new URL('../../examples/rainy-street/', import.meta.url));
const SCREENSHOTS = resolve(fileURLToPath(new URL('../../out/screenshots/', import.meta.url)));
const KEY = 'cgm_viewer_e2e_key_7c1d';
const graph = ConceptGraphSchema.parse(JSON.parse(readFileSync(`${EXAMPLE}graph.json`, 'utf8')));
const XSS_CAPTION = 'a rainy street <img src=x onerror="window.__xss=1"><script>window.__xss=2</script>';
// Every wait is bounded: the tiny model finishes a run in well under this on two cores.
const RUN_TIMEOUT_MS = 240_000;
const STEP_TIMEOUT_MS = 30_000;

const unique = (name: string) =>
  `${name}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;

/** CGM_CHROMIUM, else the first chromium on PATH (Debian's package; no browser download). */
function chromiumPath(): string {
  if (process.env.CGM_CHROMIUM) return process.env.CGM_CHROMIUM;
  for (const dir of (process.env.PATH ?? '').split(delimiter))
    for (const name of ['chromium', 'chromium-browser'])
      if (dir && existsSync(join(dir, name))) return join(dir, name);
  throw new Error('no chromium on PATH; install Debian’s chromium package or set CGM_CHROMIUM');
}

/** The judge's answer: every concept of the graph, all "yes" but one, so both answers show. */
const judgeReply = () => ({
  body: chatCompletion(
    JSON.stringify({
      intervention_id: 'judged',
      concept_checks: graph.concepts.map((c) => ({
        concept_name: c.name,
        expected_value: c.current_value,
        present: c.id === 'c5' ? 'no' : 'yes',
      })),
      verdict: 'partial',
      reasoning: 'the umbrella is still open <b>not bold</b>',
    }),
  ),
});

let s3: S3Client;
let client: Client;
let connection: Connection;
let native: NativeConnection;
let engine: GpuEngine;
let light: Worker;
let gpu: GpuWorkers;
const running: Promise<void>[] = [];
let vlm: FakeVlmServer;
let api: ReturnType<typeof serve>;
let base: string;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

beforeAll(async () => {
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // installed by another file in this process
  }
  vlm = await startFakeVlmServer();
  s3 = createS3Client(services.s3);
  connection = await Connection.connect({ address: services.temporal.address });
  native = await NativeConnection.connect({ address: services.temporal.address });
  client = new Client({ connection, namespace: services.temporal.namespace });
  const store = createArtifactStore({ client: s3, bucket: services.s3.bucket, prefix: 'viewer-e2e' });
  const lightQueue = unique('viewer-light');
  const [fixtures, workflowBundle] = await Promise.all([
    ensureTinyFixtures(),
    bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('WARN') }),
  ]);
  engine = await startEngine({ modelDir: fixtures.bundleDir, lpipsDir: fixtures.lpipsDir, device: 'cpu' });
  light = await createLightWorker({
    connection: native,
    namespace: services.temporal.namespace,
    taskQueue: lightQueue,
    store,
    vlm: { settings: { baseURL: vlm.baseURL, model: 'Qwen/Qwen3-VL-30B-A3B-Instruct' } },
    workflowBundle,
    shutdownGraceTime: '2s',
  });
  // Runs started through the API use the default GPU entry queue; this stack is the test's own.
  gpu = await createGpuWorkers({
    connection: native,
    namespace: services.temporal.namespace,
    entryQueue: 'cgm-gpu',
    engine,
    store,
    shutdownGraceTime: '2s',
  });
  running.push(light.run(), gpu.run());

  const app = createApp({
    config: defaultApiConfig({
      keyHashes: [hashApiKey(KEY)],
      taskQueue: lightQueue,
      rateLimit: { perMinute: 6000, burst: 600 },
    }),
    images: createS3ImageStore(s3, services.s3.bucket),
    runs: createTemporalRunStarter({ client, taskQueue: lightQueue }),
    batches: createTemporalRunStarter<BatchInput>({
      client,
      taskQueue: lightQueue,
      workflowType: 'batchWorkflow',
      progressQuery: BATCH_PROGRESS_QUERY,
    }),
  });
  await new Promise<void>((r) => {
    api = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => {
      base = `http://127.0.0.1:${info.port}`;
      r();
    });
  });

  browser = await chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    // Root in a container has no user namespaces for Chromium's sandbox.
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
    timeout: STEP_TIMEOUT_MS,
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('console', (msg) => {
    // Chromium logs every non-2xx fetch; the expected API answers (401, 404 of the key check) are
    // judged by the assertions, and every other failed response is recorded below.
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource'))
      pageErrors.push(msg.text());
  });
  page.on('response', (res) => {
    if (res.status() >= 400 && !new URL(res.url()).pathname.startsWith('/v1/'))
      pageErrors.push(`${res.status()} ${res.url()}`);
  });
  mkdirSync(SCREENSHOTS, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  await new Promise<void>((r) => (api ? api.close(() => r()) : r()));
  light?.shutdown();
  gpu?.shutdown();
  await Promise.allSettled(running);
  await engine?.close();
  await native?.close();
  await connection?.close();
  await vlm?.close();
  s3?.destroy();
});

describe('run viewer in headless Chromium', () => {
  it('key → start page → run page: progress, graph, images, masks, judge; markup stays text', async () => {
    // 9 outputs (3 interventions × 3 methods) are judged once each: every checklist item is answered.
    vlm.enqueue(...Array.from({ length: 9 }, judgeReply));

    // 1. No key yet: the start page sends us to the key page, which sends us back.
    await page.goto(`${base}/viewer/start`);
    await page.waitForURL(/\/viewer\/key\?next=/);
    await page.fill('#key', 'not-the-key');
    await page.click('#key-submit');
    await expect.poll(() => page.textContent('#key-status')).toMatch(/not accepted.*not valid/);
    await page.fill('#key', KEY);
    await page.click('#key-submit');
    await page.waitForURL(`${base}/viewer/start`);
    // The key is in sessionStorage only, never in a page or URL.
    expect(await page.evaluate("sessionStorage.getItem('cgm.viewer.apiKey')")).toBe(KEY);
    expect(await page.content()).not.toContain(KEY);

    // 2. Start a run with the bundled example and few steps.
    await page.setInputFiles('#image', `${EXAMPLE}image.png`);
    await page.fill('#caption', XSS_CAPTION);
    await page.setInputFiles('#graph', `${EXAMPLE}graph.json`);
    await page.setInputFiles('#interventions', `${EXAMPLE}interventions.json`);
    await page.fill('#steps', '4');
    await page.fill('#warmup', '1');
    await page.click('#start-submit');
    await page.waitForURL(/\/viewer\/runs\/cf-[0-9a-f-]+$/);
    const runId = page.url().split('/').pop()!;

    // 3. Live progress while it runs, then the manifest.
    const seen = new Set<string>();
    const deadline = Date.now() + RUN_TIMEOUT_MS;
    for (;;) {
      const status = (await page.getAttribute('#run-status', 'data-status')) ?? '';
      seen.add(status);
      if (status === 'running') seen.add(`progress:${await page.textContent('#progress-text')}`);
      if (['succeeded', 'failed', 'cancelled'].includes(status)) break;
      if (Date.now() > deadline)
        throw new Error(`run ${runId} not finished in ${RUN_TIMEOUT_MS} ms: ${[...seen]}`);
      await page.waitForTimeout(250);
    }
    await page.waitForSelector('body[data-loaded="manifest"]');
    expect(await page.getAttribute('#run-status', 'data-status')).toBe('succeeded');
    expect(seen).toContain('running');
    expect([...seen].some((s) => /^progress:phase \w+ · outputs \d+\/9/.test(s))).toBe(true);
    expect(await page.isHidden('#cancel')).toBe(true);

    // 4. The graph: one node per concept, one edge per relationship, laid out by ELK.
    expect(await page.locator('svg.dag g.node').count()).toBe(graph.concepts.length);
    expect(await page.locator('svg.dag path.edge:not(.removed)').count()).toBe(graph.relationships.length);
    expect(await page.locator('svg.dag path.edge.removed').count()).toBe(0);
    const nodeText = await page.locator('svg.dag g.node[data-concept-id="c1"]').textContent();
    expect(nodeText).toContain('weather');
    expect(nodeText).toContain('rainy → sunny weather');
    // intervention_1 = do(weather = sunny): c1 intervened, c2..c5 its descendants
    expect(await page.getAttribute('svg.dag g.node.target', 'data-concept-id')).toBe('c1');
    const descendants = await page
      .locator('svg.dag g.node.descendant')
      .evaluateAll((gs) => gs.map((g) => g.getAttribute('data-concept-id')));
    expect(descendants.sort()).toEqual(['c2', 'c3', 'c4', 'c5']);
    await page.check('input[name="intervention"][value="intervention_2"]');
    expect(await page.getAttribute('svg.dag g.node.target', 'data-concept-id')).toBe('c3');
    expect(await page.locator('svg.dag g.node.descendant').count()).toBe(1);
    await page.check('input[name="intervention"][value="intervention_1"]');

    // 5. Original | CSG | DDPM | DDIM for every intervention; every image and mask loads.
    expect(await page.locator('article.intervention').count()).toBe(3);
    for (const method of ['csg', 'ddpm', 'ddim'])
      expect(await page.locator(`article.intervention figure[data-method="${method}"]`).count()).toBe(3);
    const masks = page.locator('article.intervention img.mask');
    expect(await masks.count()).toBeGreaterThanOrEqual(3);
    // (browser-side code as strings: the tests' tsconfig has no DOM types)
    await page.waitForFunction("[...document.querySelectorAll('img')].every((i) => i.complete)", undefined, {
      timeout: STEP_TIMEOUT_MS,
    });
    const images = (await page.evaluate(
      "[...document.querySelectorAll('img[data-artifact]')].map((i) => ({ mask: i.classList.contains('mask'), width: i.naturalWidth }))",
    )) as { mask: boolean; width: number }[];
    expect(images.length).toBe(3 * 4 + (await masks.count()));
    expect(images.every((i) => i.width > 0)).toBe(true);
    expect(await page.evaluate("document.getElementById('input-image').naturalWidth")).toBeGreaterThan(0);
    // a mask overlay toggles
    const firstToggle = page.locator('article.intervention .mask-toggles input').first();
    expect(await masks.first().isVisible()).toBe(false);
    await firstToggle.check();
    expect(await masks.first().isVisible()).toBe(true);

    // 6. Judge answers and LPIPS under every output.
    expect(await page.locator('table.checklist').count()).toBe(9);
    expect(await page.locator('table.checklist tr.no').count()).toBeGreaterThan(0);
    expect(await page.locator('.facts li', { hasText: /^LPIPS \d\.\d{3}$/ }).count()).toBe(9);

    // 7. Injected markup is shown as text: no element made, no script run.
    expect(await page.textContent('#input-caption')).toBe(`caption: ${XSS_CAPTION}`);
    expect(await page.locator('#input-caption *').count()).toBe(0);
    expect(await page.locator('img[src="x"]').count()).toBe(0);
    expect(await page.locator('.reasoning b').count()).toBe(0);
    expect(await page.evaluate('window.__xss')).toBeUndefined();
    expect(pageErrors).toEqual([]);
    expect(vlm.pending()).toBe(0);

    const shot = join(SCREENSHOTS, 'viewer-run.png');
    await page.screenshot({ path: shot, fullPage: true });
    process.stdout.write(`[viewer-e2e] run page screenshot: ${shot}\n`);
  });

  it('a batch from an uploaded JSONL image list; its page: Table 1 with intervals, node types, samples', async () => {
    // A batch of one image, listed in an uploaded JSONL file; the VLM extracts and proposes (recorded
    // answers) and judges each CSG output.
    const vlmGraph = ConceptGraphSchema.parse(JSON.parse(recordedContent('portrait-extract')));
    const proposed = InterventionSetSchema.parse(
      JSON.parse(recordedContent('portrait-propose')),
    ).interventions;
    vlm.enqueue(
      recorded('portrait-extract'),
      recorded('portrait-propose'),
      ...proposed.map((iv) => ({
        body: chatCompletion(
          JSON.stringify({
            intervention_id: iv.id,
            concept_checks: judgeChecklist(iv, vlmGraph).map((c, i) => ({
              concept_name: c.concept_name,
              expected_value: c.expected_value,
              present: i === 0 ? 'yes' : 'no',
            })),
            verdict: 'partial',
            reasoning: 'only the intervened concept changed',
          }),
        ),
      })),
    );
    const auth = { authorization: `Bearer ${KEY}` };
    // Presigned upload to the real S3, for the image and then for the batch's image list (JSONL).
    const upload = async (bytes: Uint8Array, contentType: string) => {
      const sha = sha256Hex(bytes);
      const ticket = (await (
        await fetch(`${base}/v1/uploads`, {
          method: 'POST',
          headers: { ...auth, 'content-type': 'application/json' },
          body: JSON.stringify({ contentType, bytes: bytes.byteLength, sha256: sha }),
        })
      ).json()) as { upload: { url: string; headers: Record<string, string> } | null };
      if (ticket.upload) {
        const put = await fetch(ticket.upload.url, {
          method: 'PUT',
          headers: ticket.upload.headers,
          body: bytes,
        });
        expect(put.ok).toBe(true);
      }
      return sha;
    };
    const sha = await upload(readFileSync(`${EXAMPLE}image.png`), 'image/png');
    const list = JSON.stringify({
      dataset: 'coco',
      id: 'rainy-street',
      image: { sha256: sha },
      caption: readFileSync(`${EXAMPLE}caption.txt`, 'utf8').trim(),
      captionRule: 'coco:lowest-annotation-id',
    });
    const listSha = await upload(new TextEncoder().encode(`${list}\n`), 'application/x-ndjson');
    const started = await fetch(`${base}/v1/batches`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({
        imagesFile: { sha256: listSha },
        methods: ['csg'],
        settings: { inversionSteps: 4, editWarmupSteps: 1 },
      }),
    });
    const batch = (await started.json()) as { id: string };
    expect(started.status, JSON.stringify(batch)).toBe(202);

    await page.goto(`${base}/viewer/batches/${batch.id}`);
    await page.waitForSelector('body[data-loaded="report"]', { timeout: RUN_TIMEOUT_MS });
    expect(await page.getAttribute('#batch-status', 'data-status')).toBe('succeeded');
    expect(await page.textContent('#batch-message')).toBe('');
    // Table 1: one CSG row; the COCO cells carry a mean and a 95% interval.
    const table1 = await page.locator('#table1 tbody tr').allTextContents();
    expect(table1).toHaveLength(1);
    const cells = await page.locator('#table1 tbody tr td').allTextContents();
    expect(cells[0]).toBe('CSG');
    expect(cells[1]).toMatch(/^\d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]$/);
    expect(await page.locator('#nodetypes tbody tr').count()).toBeGreaterThan(0);
    // The sample grid: the input and the CSG output load, and the link opens the run's page.
    expect(await page.locator('#samples figure.sample').count()).toBe(1);
    await page.waitForFunction(
      "[...document.querySelectorAll('#samples img')].every((i) => i.complete && i.naturalWidth > 0)",
    );
    expect(await page.locator('#samples img').count()).toBe(2);
    const shot = join(SCREENSHOTS, 'viewer-batch.png');
    await page.screenshot({ path: shot, fullPage: true });
    process.stdout.write(`[viewer-e2e] batch page screenshot: ${shot}\n`);

    await page.click('#samples figure.sample a');
    await page.waitForSelector('body[data-loaded="manifest"]');
    expect(await page.locator('svg.dag g.node').count()).toBe(vlmGraph.concepts.length);
    expect(await page.locator('article.intervention').count()).toBe(proposed.length);
    expect(pageErrors).toEqual([]);
  });
  it('start page with a do() line: the VLM propagates it; the cancel button stops the run mid-edit', async () => {
    const [sunny] = InterventionSetSchema.parse(
      JSON.parse(readFileSync(`${EXAMPLE}interventions.json`, 'utf8')),
    ).interventions;
    const asked = vlm.requests.length;
    // The propagation of do(weather = sunny weather); the run is cancelled before any judging.
    vlm.enqueue({
      body: chatCompletion(JSON.stringify({ interventions: [{ ...sunny, id: 'intervention_1' }] })),
    });
    await page.goto(`${base}/viewer/start`);
    if (/\/viewer\/key/.test(page.url())) {
      // run on its own (-t): this page has no key yet
      await page.fill('#key', KEY);
      await page.click('#key-submit');
      await page.waitForURL(`${base}/viewer/start`);
    }
    await page.setInputFiles('#image', `${EXAMPLE}image.png`);
    await page.fill('#caption', readFileSync(`${EXAMPLE}caption.txt`, 'utf8').trim());
    await page.setInputFiles('#graph', `${EXAMPLE}graph.json`);
    await page.fill('#do', 'do(Weather = sunny weather)');
    await page.uncheck('input[name="method"][value="ddpm"]');
    // Enough steps that the CSG edit lasts several of the page's 1 s polls, even on a fast machine.
    await page.fill('#steps', '200');
    await page.fill('#warmup', '2');
    await page.click('#start-submit');
    await page.waitForURL(/\/viewer\/runs\/cf-[0-9a-f-]+$/);
    const runId = page.url().split('/').pop()!;

    // Cancel as soon as the page shows the edit stage running.
    await expect
      .poll(() => page.textContent('#progress-text'), { timeout: RUN_TIMEOUT_MS, interval: 100 })
      .toMatch(/^phase edit/);
    expect(await page.isVisible('#cancel')).toBe(true);
    await page.click('#cancel');
    await expect.poll(() => page.textContent('#run-message')).toMatch(/Cancellation requested/);
    await page.waitForSelector('body[data-loaded="manifest"]', { timeout: RUN_TIMEOUT_MS });
    expect(await page.getAttribute('#run-status', 'data-status')).toBe('cancelled');
    expect(await page.isHidden('#cancel')).toBe(true);

    // The do() went to the VLM as the user's request, and its answer is the run's intervention.
    const prompts = vlm.requests.slice(asked).map((r) => JSON.stringify(r.body));
    expect(prompts).toHaveLength(1);
    expect(prompts[0]).toContain('sunny weather');
    const nodeText = await page.locator('svg.dag g.node[data-concept-id="c1"]').textContent();
    expect(nodeText).toContain('rainy → sunny weather');
    expect(await page.getAttribute('svg.dag g.node.target', 'data-concept-id')).toBe('c1');

    // What the workflow recorded: cancelled in the edit stage, no output beyond what finished.
    const res = await fetch(`${base}/v1/counterfactuals/${runId}/manifest`, {
      headers: { authorization: `Bearer ${KEY}` },
    });
    expect(res.status).toBe(200);
    const m = RunManifestSchema.parse(await res.json());
    expect(m.status).toBe('cancelled');
    expect(m.stages.edit?.status).toBe('cancelled');
    expect(m.interventions.map((r) => [r.source, r.intervention.id])).toEqual([['user', 'do_1']]);
    expect(m.outputs.length).toBeLessThan(m.plans.length);
    // The engine stopped between steps: nothing of the run is still on the GPU host.
    const desc = await client.workflow.getHandle(runId).describe();
    expect(desc.raw.pendingActivities ?? []).toHaveLength(0);
    expect(pageErrors).toEqual([]);
  });
});
