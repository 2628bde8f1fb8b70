// `cgm dev` as a real process with its own state folder: it brings up its own Temporal + SeaweedFS,
// both workers and the API (with a generated key, and the VLM at --vlm-url); one run goes through the
// API to a judged manifest; SIGTERM stops every process it started.
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { judgeChecklist } from '../../activities/vlm/judge.js';
import { ConceptGraphSchema, InterventionSetSchema } from '../../core/schemas/paper.js';
import { pickFreePorts } from '../../infra/local/ports.js';
import { servicesDown } from '../../infra/local/services.js';
import { chatCompletion, type FakeVlmServer, startFakeVlmServer } from '../support/fake-vlm-server.js';
import { ensureTinyFixtures } from '../support/fixtures.js';
import { type CgmProcess, isAlive, REPO_ROOT, spawnCgm } from '../support/process-cgm.js';

const EXAMPLE = `${REPO_ROOT}examples/rainy-street/`;
const STATE_DIR = join(REPO_ROOT, `.state/test-dev/run-${process.pid}-${Date.now().toString(36)}`);
const READY_MS = 240_000;
const RUN_MS = 180_000;
// The GPU worker may finish an in-flight step first; cgm dev escalates to SIGKILL after 40 s.
const STOP_MS = 90_000;

interface DevReady {
  status: 'ready';
  api: { url: string; docs: string; generatedKey: string | null };
  pids: Record<string, number>;
  logs: Record<string, string>;
  ownServices: boolean;
}

let dev: CgmProcess | undefined;
let ready: DevReady | undefined;
let vlm: FakeVlmServer;

beforeAll(async () => {
  vlm = await startFakeVlmServer();
});

afterAll(async () => {
  // Also after a failure: cgm dev, then anything it started that is somehow still there.
  await dev?.stop('SIGTERM', STOP_MS);
  for (const pid of Object.values(ready?.pids ?? {})) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  await servicesDown(join(STATE_DIR, 'services'), 5_000);
  await vlm?.close();
  await rm(STATE_DIR, { recursive: true, force: true });
});

/** The fields of the API's answers this test reads (api/schemas.ts). */
interface ApiBody {
  id: string;
  status: string;
  result: { outputs: number; manifest: { url: string } } | null;
}

async function api(path: string, init: RequestInit = {}): Promise<{ status: number; body: ApiBody }> {
  const res = await fetch(`${ready!.api.url}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${ready!.api.generatedKey}`, ...init.headers },
  });
  return { status: res.status, body: (await res.json()) as ApiBody };
}

describe('cgm dev', () => {
  it('starts services, workers and the API, runs one image through the API, and stops everything on SIGTERM', async () => {
    const fixtures = await ensureTinyFixtures();
    const [apiPort] = await pickFreePorts({ count: 1 });
    const env: NodeJS.ProcessEnv = { ...process.env, CGM_ENGINE_DEVICE: 'cpu' };
    for (const name of ['CGM_API_KEYS', 'CGM_API_KEY_SHA256']) delete env[name]; // cgm dev makes a key
    dev = spawnCgm(
      'cgm dev',
      [
        'dev',
        '--state-dir',
        STATE_DIR,
        '--api-port',
        String(apiPort),
        '--model',
        fixtures.bundleDir,
        '--vlm-url',
        vlm.baseURL,
        '--json',
        '--quiet',
      ],
      env,
    );
    const line = await dev.waitFor(/^\{"status":"ready".*$/m, READY_MS);
    ready = JSON.parse(line[0]) as DevReady;
    expect(ready.ownServices).toBe(true);
    expect(Object.keys(ready.pids).sort()).toEqual(['api', 'gpu', 'light', 'seaweedfs', 'temporal']);
    for (const pid of Object.values(ready.pids)) expect(isAlive(pid)).toBe(true);
    expect(ready.api.url).toBe(`http://127.0.0.1:${apiPort}`);
    expect(ready.api.generatedKey).toMatch(/^cgm-dev-[A-Za-z0-9_-]{32}$/);

    const health = await fetch(`${ready.api.url}/healthz`);
    expect(health.status).toBe(200);
    expect(
      (await api('/v1/counterfactuals/cf-none', { headers: { authorization: 'Bearer wrong' } })).status,
    ).toBe(401);

    // One run through the API: the user's graph and one intervention, CSG only, judged by the VLM.
    const graph = ConceptGraphSchema.parse(JSON.parse(await readFile(`${EXAMPLE}graph.json`, 'utf8')));
    const [intervention] = InterventionSetSchema.parse(
      JSON.parse(await readFile(`${EXAMPLE}interventions.json`, 'utf8')),
    ).interventions;
    vlm.enqueue({
      body: chatCompletion(
        JSON.stringify({
          intervention_id: intervention.id,
          concept_checks: judgeChecklist(intervention, graph).map((c) => ({
            concept_name: c.concept_name,
            expected_value: c.expected_value,
            present: 'yes',
          })),
          verdict: 'success',
          reasoning: 'every checklist item is visible',
        }),
      ),
    });
    const form = new FormData();
    form.append(
      'image',
      new Blob([await readFile(`${EXAMPLE}image.png`)], { type: 'image/png' }),
      'image.png',
    );
    form.append(
      'request',
      JSON.stringify({
        caption: (await readFile(`${EXAMPLE}caption.txt`, 'utf8')).trim(),
        graph,
        interventions: [intervention],
        methods: ['csg'],
        settings: { inversionSteps: 6, editWarmupSteps: 1 },
      }),
    );
    const accepted = await api('/v1/counterfactuals', { method: 'POST', body: form });
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
    const id: string = accepted.body.id;

    const t0 = Date.now();
    let status = await api(`/v1/counterfactuals/${id}`);
    while (status.body.status === 'running') {
      if (Date.now() - t0 > RUN_MS)
        throw new Error(`run ${id} still running: ${JSON.stringify(status.body)}`);
      await new Promise((r) => setTimeout(r, 250));
      status = await api(`/v1/counterfactuals/${id}`);
    }
    expect(status.body.status, JSON.stringify(status.body)).toBe('succeeded');
    expect(status.body.result?.outputs).toBe(1);
    // The manifest through its presigned URL: the judge ran against the VLM given by --vlm-url.
    const manifest = (await (await fetch(status.body.result!.manifest.url)).json()) as {
      outputs: { judge?: { verdict: { verdict: string } } }[];
    };
    expect(manifest.outputs[0].judge?.verdict.verdict).toBe('success');
    expect(vlm.requests.filter((r) => r.path === '/v1/chat/completions')).toHaveLength(1);

    // SIGTERM: cgm dev exits cleanly and none of the processes it started is left.
    const exit = await dev.stop('SIGTERM', STOP_MS);
    expect(exit, dev.stderr()).toEqual({ code: 0, signal: null });
    const left = Object.entries(ready.pids).filter(([, pid]) => isAlive(pid));
    expect(left, dev.stderr()).toEqual([]);
    expect(dev.stderr()).toMatch(/services stopped \(temporal: stopped, seaweedfs: stopped\)/);
    // Each child's output went to its own log file.
    expect(await readFile(ready.logs.gpu, 'utf8')).toMatch(/gpu worker: model/);
    expect(await readFile(ready.logs.api, 'utf8')).toMatch(/listening on/);
  });
});
