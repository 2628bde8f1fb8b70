// A bounded load test of the HTTP API on loopback: M counterfactual runs fired at once, each with its
// own Idempotency-Key, plus deliberate replays (same key, same body: must return the same run) and
// conflicts (same key, another body: must be 409), against the real workflow on the tiny model.
//   npx tsx bench/api-load.ts [--runs 24] [--replays 6] [--conflicts 2] [--timeout-s 900]
//                             [--reuse-services] [--out out/bench/api-load.json]
// Stack: by default a private Temporal dev server + SeaweedFS (own state folder under .state/, free
// ports), stopped at the end; --reuse-services takes the endpoints from the CGM_* environment instead
// (the lines `cgm services up` prints) and leaves those services running. The API (rate limit lifted:
// the limiter is not under test), a light worker and a GPU worker (engine thread, tiny model) run in
// this process on fresh task queues and are stopped at the end, also on failure, timeout or Ctrl-C.
// Reports: none lost (every accepted id ran to success), none duplicated (workflows listed on the
// task queue = distinct accepted ids, each once), POST latency and run completion percentiles.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { serve } from '@hono/node-server';
import { Client, Connection } from '@temporalio/client';
import { createApp } from '../api/app.js';
import { defaultApiConfig } from '../api/config.js';
import { createS3ImageStore } from '../api/images.js';
import { hashApiKey } from '../api/middleware/auth.js';
import { createTemporalRunStarter } from '../api/runs/temporal.js';
import { createS3Client, sha256Hex } from '../core/artifacts/index.js';
import { loadConfig } from '../core/config/index.js';
import { quantile } from '../core/eval/quantile.js';
import { REPO_ROOT, servicesDown, servicesUp } from '../infra/local/services.js';
import { startTinyStack, type TinyStack } from '../tests/integration/api-tiny-stack.js';

const MAX_RUNS = 200;
const KEY = 'cgm_bench_api_load_key';
const EXAMPLE = join(REPO_ROOT, 'examples/rainy-street');

interface Sent {
  kind: 'run' | 'replay' | 'conflict';
  index: number;
  status: number;
  ms: number;
  id?: string;
  replayed?: boolean;
  code?: string;
}

function positiveInt(name: string, raw: string, max: number): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > max)
    throw new Error(`--${name}: expected a whole number in [0, ${max}], got '${raw}'`);
  return n;
}

const pct = (xs: number[]) =>
  xs.length === 0
    ? null
    : {
        n: xs.length,
        p50: round(quantile(xs, 0.5)),
        p95: round(quantile(xs, 0.95)),
        p99: round(quantile(xs, 0.99)),
        max: round(Math.max(...xs)),
      };
const round = (x: number) => Math.round(x * 10) / 10;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '24' },
      replays: { type: 'string' },
      conflicts: { type: 'string', default: '2' },
      'timeout-s': { type: 'string', default: '900' },
      'reuse-services': { type: 'boolean', default: false },
      out: { type: 'string', default: join(REPO_ROOT, 'out/bench/api-load.json') },
    },
  });
  const runs = positiveInt('runs', values.runs, MAX_RUNS);
  if (runs < 1) throw new Error('--runs: expected at least 1');
  const replays = positiveInt('replays', values.replays ?? String(Math.max(1, Math.floor(runs / 4))), runs);
  const conflicts = positiveInt('conflicts', values.conflicts, runs);
  const timeoutMs = positiveInt('timeout-s', values['timeout-s'], 24 * 3600) * 1000;
  const deadline = Date.now() + timeoutMs;

  // Everything started is pushed here and undone in reverse order, whatever happens.
  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async () => {
    for (const undo of cleanups.reverse()) await undo().catch((err) => console.error(`cleanup: ${err}`));
    cleanups.length = 0;
  };
  const onSignal = () => {
    console.error('interrupted: stopping everything this benchmark started');
    void cleanup().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const overall = setTimeout(() => {
    console.error(`overall timeout of ${timeoutMs / 1000} s reached: stopping`);
    void cleanup().then(() => process.exit(124));
  }, timeoutMs);

  try {
    // ---- the stack ------------------------------------------------------------------------------
    let endpoints: {
      temporal: { address: string; namespace: string };
      s3: Parameters<typeof createS3Client>[0] & { bucket: string };
    };
    const t0 = Date.now();
    if (values['reuse-services']) {
      const config = loadConfig();
      endpoints = {
        temporal: { address: config.temporal.address, namespace: config.temporal.namespace },
        s3: { ...config.s3 },
      };
    } else {
      const stateDir = join(REPO_ROOT, `.state/bench-api-load/run-${process.pid}`);
      const up = await servicesUp({ stateDir, fresh: true, binDir: join(REPO_ROOT, '.venv/bin') });
      cleanups.push(async () => {
        await servicesDown(stateDir, 10_000);
        rmSync(stateDir, { recursive: true, force: true });
      });
      endpoints = up.state.endpoints;
    }
    const stack: TinyStack = await startTinyStack({ ...endpoints, name: 'bench-load' });
    cleanups.push(() => stack.close());
    const connection = await Connection.connect({ address: endpoints.temporal.address });
    cleanups.push(() => connection.close());
    const client = new Client({ connection, namespace: endpoints.temporal.namespace });
    const s3 = createS3Client(endpoints.s3);
    cleanups.push(async () => s3.destroy());
    const app = createApp({
      config: defaultApiConfig({
        keyHashes: [hashApiKey(KEY)],
        taskQueue: stack.lightQueue,
        gpuTaskQueue: stack.gpuQueue,
        rateLimit: { perMinute: 1_000_000, burst: 100_000 },
      }),
      images: createS3ImageStore(s3, endpoints.s3.bucket),
      runs: createTemporalRunStarter({ client, taskQueue: stack.lightQueue }),
    });
    const base = await new Promise<string>((resolve) => {
      const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) =>
        resolve(`http://127.0.0.1:${info.port}`),
      );
      cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    });
    const setupSeconds = (Date.now() - t0) / 1000;
    console.error(
      `stack ready in ${setupSeconds.toFixed(1)} s; API at ${base}; light queue ${stack.lightQueue}`,
    );

    // ---- one upload, shared by every run (each run has its own seed, so its own inversion) --------
    const auth = { authorization: `Bearer ${KEY}` };
    const post = (path: string, body: unknown, extra: Record<string, string> = {}) =>
      fetch(`${base}${path}`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json', ...extra },
        body: JSON.stringify(body),
      });
    const image = new Uint8Array(readFileSync(join(EXAMPLE, 'image.png')));
    const sha = sha256Hex(image);
    const ticket = (await (
      await post('/v1/uploads', { contentType: 'image/png', bytes: image.byteLength, sha256: sha })
    ).json()) as { upload: { url: string; headers: Record<string, string> } | null };
    if (ticket.upload) {
      const put = await fetch(ticket.upload.url, {
        method: 'PUT',
        headers: ticket.upload.headers,
        body: Buffer.from(image),
      });
      if (put.status !== 200) throw new Error(`presigned PUT answered ${put.status}`);
    }
    const graph = JSON.parse(readFileSync(join(EXAMPLE, 'graph.json'), 'utf8'));
    const intervention = JSON.parse(readFileSync(join(EXAMPLE, 'interventions.json'), 'utf8'))
      .interventions[0];
    const tag = stack.lightQueue;
    const request = (i: number, seed = i) => ({
      image: { sha256: sha },
      caption: readFileSync(join(EXAMPLE, 'caption.txt'), 'utf8').trim(),
      graph,
      interventions: [intervention],
      methods: ['csg'],
      judge: false, // no VLM server here
      settings: { inversionSteps: 4, editWarmupSteps: 1, seed },
    });

    // ---- fire everything at once ------------------------------------------------------------------
    const send = async (kind: Sent['kind'], index: number, body: unknown): Promise<Sent> => {
      const started = performance.now();
      const res = await post('/v1/counterfactuals', body, { 'idempotency-key': `${tag}-${index}` });
      const ms = performance.now() - started;
      const json = (await res.json()) as { id?: string; replayed?: boolean; error?: { code: string } };
      return {
        kind,
        index,
        status: res.status,
        ms,
        id: json.id,
        replayed: json.replayed,
        code: json.error?.code,
      };
    };
    const firedAt = performance.now();
    const wave = await Promise.all([
      ...Array.from({ length: runs }, (_, i) => send('run', i, request(i))),
      ...Array.from({ length: replays }, (_, k) => send('replay', k, request(k))),
    ]);
    // Conflicts come once their keys are taken (fired with the originals, one could win the key): a
    // conflict reuses a key with another seed, i.e. another body.
    const conflicting = await Promise.all(
      Array.from({ length: conflicts }, (_, k) =>
        send('conflict', runs - 1 - k, request(runs - 1 - k, 10_000 + k)),
      ),
    );
    const sent = [...wave, ...conflicting];
    const accepted = sent.filter((s) => s.status === 202);
    const acceptedIds = new Set(accepted.map((s) => s.id!));
    const problems: string[] = [];
    for (const s of sent) {
      if (s.kind !== 'conflict' && s.status !== 202)
        problems.push(`${s.kind} #${s.index}: HTTP ${s.status} ${s.code ?? ''}`);
      if (s.kind === 'conflict' && (s.status !== 409 || s.code !== 'idempotency_conflict'))
        problems.push(
          `conflict #${s.index}: expected 409 idempotency_conflict, got ${s.status} ${s.code ?? ''}`,
        );
    }
    // A replay and its original share the key: one run between them, whichever arrived first.
    for (let k = 0; k < replays; k++) {
      const pair = sent.filter((s) => s.kind !== 'conflict' && s.index === k && s.status === 202);
      if (new Set(pair.map((s) => s.id)).size !== 1) problems.push(`key #${k}: replay got another run id`);
      if (pair.filter((s) => s.replayed).length !== 1)
        problems.push(`key #${k}: expected exactly one replayed answer`);
    }
    if (acceptedIds.size !== runs)
      problems.push(`expected ${runs} distinct run ids, got ${acceptedIds.size}`);

    // ---- wait for every run; completion measured from the moment the load was fired ---------------
    const completion: number[] = [];
    const outcomes = await Promise.all(
      [...acceptedIds].map(async (id) => {
        const left = deadline - Date.now();
        try {
          await client.withDeadline(Date.now() + left, () => client.workflow.getHandle(id).result());
          completion.push((performance.now() - firedAt) / 1000);
        } catch (err) {
          return `${id}: ${(err as Error).message}`;
        }
        // The API's own view must agree.
        const status = (await (
          await fetch(`${base}/v1/counterfactuals/${id}`, { headers: auth })
        ).json()) as {
          status: string;
        };
        return status.status === 'succeeded' ? null : `${id}: API says ${status.status}`;
      }),
    );
    const lost = outcomes.filter((o): o is string => o !== null);
    problems.push(...lost);

    // ---- count workflows on the task queue (visibility is eventually consistent: wait until stable)
    let listed: string[] = [];
    for (let tries = 0; tries < 60; tries++) {
      listed = [];
      for await (const wf of client.workflow.list({ query: `TaskQueue = '${stack.lightQueue}'` }))
        listed.push(wf.workflowId);
      if (listed.length >= acceptedIds.size) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const listedSet = new Set(listed);
    const duplicated = listed.length - listedSet.size;
    const unknown = [...listedSet].filter((id) => !acceptedIds.has(id));
    const missing = [...acceptedIds].filter((id) => !listedSet.has(id));
    if (duplicated > 0) problems.push(`${duplicated} workflow id(s) listed more than once`);
    if (unknown.length > 0)
      problems.push(`${unknown.length} workflow(s) nobody was told about: ${unknown.join(', ')}`);
    if (missing.length > 0)
      problems.push(`${missing.length} accepted id(s) not listed: ${missing.join(', ')}`);

    const report = {
      runs,
      replays,
      conflicts,
      requests: sent.length,
      accepted: accepted.length,
      distinctRunIds: acceptedIds.size,
      workflowsListed: listed.length,
      succeeded: acceptedIds.size - lost.length,
      lost: lost.length,
      duplicated,
      postLatencyMs: {
        all: pct(sent.map((s) => s.ms)),
        new: pct(sent.filter((s) => s.kind === 'run').map((s) => s.ms)),
        replay: pct(sent.filter((s) => s.kind === 'replay').map((s) => s.ms)),
        conflict: pct(sent.filter((s) => s.kind === 'conflict').map((s) => s.ms)),
      },
      completionSeconds: pct(completion),
      setupSeconds: round(setupSeconds),
      settings: {
        inversionSteps: 4,
        methods: ['csg'],
        judge: false,
        model: 'tiny (tests/support/fixtures.ts)',
      },
      stack: values['reuse-services'] ? 'reused (CGM_* environment)' : 'private (started and stopped here)',
      problems,
      ok: problems.length === 0,
    };
    mkdirSync(dirname(values.out), { recursive: true });
    writeFileSync(values.out, `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(`${JSON.stringify(report)}\n\n`);
    const row = (name: string, p: ReturnType<typeof pct>, unit: string) =>
      `| ${name} | ${p?.n ?? 0} | ${p?.p50 ?? '-'} | ${p?.p95 ?? '-'} | ${p?.p99 ?? '-'} | ${p?.max ?? '-'} | ${unit} |`;
    process.stdout.write(
      [
        `${runs} runs + ${replays} replays + ${conflicts} conflicts: ${acceptedIds.size} distinct runs, ` +
          `${listed.length} workflows listed, ${report.succeeded} succeeded, lost ${lost.length}, duplicated ${duplicated}`,
        '',
        '| measure | n | p50 | p95 | p99 | max | unit |',
        '|---|---|---|---|---|---|---|',
        row('POST, new key', report.postLatencyMs.new, 'ms'),
        row('POST, replay', report.postLatencyMs.replay, 'ms'),
        row('POST, conflict (409)', report.postLatencyMs.conflict, 'ms'),
        row('run completion since firing', report.completionSeconds, 's'),
        '',
        problems.length === 0 ? 'OK' : `PROBLEMS:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
        `JSON: ${values.out}`,
        '',
      ].join('\n'),
    );
    process.exitCode = problems.length === 0 ? 0 : 1;
  } finally {
    clearTimeout(overall);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exitCode = 1;
});
