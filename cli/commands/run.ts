import { parseArgs } from 'node:util';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { CancelledFailure, defaultPayloadConverter } from '@temporalio/common';
import { z } from 'zod';
import { createArtifactStore } from '../../core/artifacts/store.js';
import { loadConfig, temporalConnectOptions } from '../../core/config/index.js';
import { PROGRESS_QUERY } from '../../core/constants.js';
import { EditMethodSchema } from '../../core/schemas/edit-plan.js';
import { ConceptGraphSchema, InterventionSetSchema } from '../../core/schemas/paper.js';
import {
  type CounterfactualInput,
  CounterfactualInputSchema,
  type GpuHeartbeat,
  type RunProgress,
} from '../../core/schemas/workflow-io.js';
import type { CounterfactualResult } from '../../workflows/counterfactual.js';
import { CliError } from '../cli-error.js';
import { parseEditBatch } from '../edit-batch-arg.js';
import { readBytes, readJsonFile } from '../input-files.js';

const USAGE = `usage: cgm run IMAGE [--graph G.json] [--interventions I.json | --do CONCEPT=VALUE ...]
        [--caption TEXT] [--methods csg,ddpm,ddim] [--engine S.json] [--steps N] [--webhook URL]
        [--edit-batch N] [--id ID] [--no-judge] [--detach]

  --graph          the causal graph (skips the VLM's extraction)
  --interventions  the do()s as an intervention set (skips the VLM's proposals; needs --graph)
  --do             do(CONCEPT = VALUE), repeatable: CONCEPT is a concept id or name; the VLM works
                   out the changed descendants (instead of --interventions)
  --caption        base prompt Y (default: the VLM describes the image)
  --engine         engine settings JSON (gpu-worker/engine/settings.ts); --steps overrides its steps
  --edit-batch     edits of one method per GPU call, 1..16 (default 4; GPU memory grows with it)
  --id             workflow id (default cf-<image sha256 prefix>-<time>)
  --no-judge       skip the VLM judge
  --detach         print the workflow id and return without following`;

export async function run(argv: string[]): Promise<number> {
  let values: ReturnType<typeof parse>['values'];
  let positionals: string[];
  try {
    ({ values, positionals } = parse(argv));
  } catch (err) {
    throw new CliError(`${(err as Error).message}\n${USAGE}`, 2);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (positionals.length !== 1) throw new CliError(`expected one IMAGE\n${USAGE}`, 2);
  if (values.interventions && !values.graph)
    throw new CliError('--interventions needs --graph: the do()s name concepts of a graph', 2);
  if (values.interventions && values.do)
    throw new CliError('give --interventions or --do, not both: --do asks the VLM to propagate each do()', 2);
  const doRequests = values.do?.map((text) => {
    const eq = text.indexOf('=');
    const concept = text.slice(0, eq).trim();
    const value = text.slice(eq + 1).trim();
    if (eq < 0 || !concept || !value)
      throw new CliError(`--do: expected CONCEPT=VALUE (e.g. weather=sunny weather), got '${text}'`, 2);
    return { concept, value };
  });

  const config = loadConfig();
  const imageBytes = await readBytes(positionals[0]);
  const graph = values.graph
    ? await readJsonFile(values.graph, ConceptGraphSchema, 'concept graph')
    : undefined;
  const interventions = values.interventions
    ? (await readJsonFile(values.interventions, InterventionSetSchema, 'intervention set')).interventions
    : undefined;
  const engine: Record<string, unknown> = values.engine
    ? await readJsonFile(values.engine, z.record(z.string(), z.json()), 'engine settings')
    : {};
  if (values.steps) {
    const n = Number(values.steps);
    if (!Number.isInteger(n) || n < 1)
      throw new CliError(`--steps: expected a positive integer, got '${values.steps}'`, 2);
    engine.inversion = { ...(engine.inversion as object), numSteps: n };
    engine.baselines = { ...(engine.baselines as object), numSteps: n };
  }
  const editBatch = values['edit-batch'] === undefined ? undefined : parseEditBatch(values['edit-batch']);
  const methods = (values.methods ?? 'csg,ddpm,ddim').split(',').map((m) => {
    const p = EditMethodSchema.safeParse(m.trim());
    if (!p.success) throw new CliError(`--methods: unknown method '${m}' (expected csg, ddpm, ddim)`, 2);
    return p.data;
  });

  const store = createArtifactStore({
    bucket: config.s3.bucket,
    s3: {
      endpoint: config.s3.endpoint,
      region: config.s3.region,
      accessKeyId: config.s3.accessKeyId,
      secretAccessKey: config.s3.secretAccessKey,
      forcePathStyle: config.s3.forcePathStyle,
    },
  });
  // Everything is checked before the image is stored.
  const parsed = CounterfactualInputSchema.omit({ image: true }).safeParse({
    caption: values.caption ?? null,
    graph,
    interventions,
    do: doRequests,
    methods: [...new Set(methods)],
    engine,
    evaluate: { judge: !values['no-judge'] },
    hosts: { gpuTaskQueue: config.temporal.taskQueues.gpu },
    editBatch,
    webhook: values.webhook ? { url: values.webhook } : undefined,
  });
  if (!parsed.success) throw new CliError(`invalid run input: ${z.prettifyError(parsed.error)}`, 2);
  const image = (await store.put(imageBytes, { contentType: sniff(imageBytes), prefix: 'inputs' })).ref;
  const input: CounterfactualInput = { ...parsed.data, image };

  const connection = await Connection.connect(await temporalConnectOptions(config.temporal));
  try {
    const client = new Client({ connection, namespace: config.temporal.namespace });
    const workflowId = values.id ?? `cf-${image.sha256.slice(0, 12)}-${Date.now().toString(36)}`;
    const handle = await client.workflow.start('counterfactualWorkflow', {
      taskQueue: config.temporal.taskQueues.light,
      workflowId,
      args: [input],
    });
    process.stderr.write(`cgm: started ${workflowId} on ${config.temporal.taskQueues.light}\n`);
    if (values.detach) {
      process.stdout.write(`${JSON.stringify({ workflowId })}\n`);
      return 0;
    }
    let cancelling = false;
    const onSigint = () => {
      if (cancelling) return;
      cancelling = true;
      process.stderr.write('\ncgm: cancelling (the manifest of what finished is still written)\n');
      void handle.cancel();
    };
    process.on('SIGINT', onSigint);
    const bar = progressLine();
    const result = handle.result() as Promise<CounterfactualResult>;
    let finished = false;
    void result
      .finally(() => {
        finished = true;
      })
      .catch(() => {});
    try {
      while (!finished) {
        const [progress, step] = await Promise.all([
          handle.query<RunProgress>(PROGRESS_QUERY).catch(() => null),
          gpuStep(handle).catch(() => null),
        ]);
        if (progress) bar.update(progress, step);
        await Promise.race([result.catch(() => {}), new Promise((r) => setTimeout(r, 500))]);
      }
      const out = await result;
      bar.done();
      process.stdout.write(
        `${JSON.stringify({ workflowId, status: out.status, outputs: out.outputs, manifest: out.manifest })}\n`,
      );
      return 0;
    } catch (err) {
      bar.done();
      const progress = await handle.query<RunProgress>(PROGRESS_QUERY).catch(() => null);
      const manifest = progress?.manifest ?? null;
      if (err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure) {
        process.stdout.write(`${JSON.stringify({ workflowId, status: 'cancelled', manifest })}\n`);
        return 130;
      }
      process.stdout.write(`${JSON.stringify({ workflowId, status: 'failed', manifest })}\n`);
      const cause =
        err instanceof WorkflowFailedError ? (err.cause?.message ?? err.message) : (err as Error).message;
      throw new CliError(`run ${workflowId} failed: ${cause}`, 1);
    } finally {
      process.off('SIGINT', onSigint);
    }
  } finally {
    await connection.close();
  }
}

/** The GPU activity's last heartbeat (step progress), if one is running. */
async function gpuStep(handle: { describe(): Promise<{ raw: { pendingActivities?: unknown[] | null } }> }) {
  const desc = await handle.describe();
  for (const a of (desc.raw.pendingActivities ?? []) as {
    heartbeatDetails?: { payloads?: unknown[] | null } | null;
  }[]) {
    const payload = a.heartbeatDetails?.payloads?.[0];
    if (payload) return defaultPayloadConverter.fromPayload(payload as never) as GpuHeartbeat;
  }
  return null;
}

function progressLine() {
  const tty = process.stderr.isTTY;
  let last = '';
  return {
    update(p: RunProgress, step: GpuHeartbeat | null) {
      const width = 20;
      const frac = p.outputs.total > 0 ? p.outputs.done / p.outputs.total : 0;
      const filled = Math.round(frac * width);
      const gpu = step
        ? ` ${step.phase}${step.stage ? `/${step.stage}` : ''} ${step.step}/${step.total}`
        : '';
      const line = `${String(p.phase).padEnd(9)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${p.outputs.done}/${p.outputs.total} outputs${gpu}`;
      if (line === last) return;
      last = line;
      process.stderr.write(tty ? `\r${line.padEnd(90)}` : `${line}\n`);
    },
    done() {
      if (tty && last) process.stderr.write('\n');
    },
  };
}

function sniff(bytes: Uint8Array): string {
  if (bytes[0] === 0x89 && bytes[1] === 0x50) return 'image/png';
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return 'image/jpeg';
  if (bytes[0] === 0x52 && bytes[1] === 0x49 && bytes[8] === 0x57) return 'image/webp';
  throw new CliError('IMAGE: expected a PNG, JPEG or WebP file', 2);
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      graph: { type: 'string' },
      interventions: { type: 'string' },
      do: { type: 'string', multiple: true },
      caption: { type: 'string' },
      methods: { type: 'string' },
      engine: { type: 'string' },
      steps: { type: 'string' },
      'edit-batch': { type: 'string' },
      webhook: { type: 'string' },
      id: { type: 'string' },
      'no-judge': { type: 'boolean', default: false },
      detach: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
}
