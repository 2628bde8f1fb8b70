import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { CancelledFailure, defaultPayloadConverter } from '@temporalio/common';
import { z } from 'zod';
import { loadConfig, temporalConnectOptions } from '../../core/config/index.js';
import { PROGRESS_QUERY } from '../../core/constants.js';
import { ConceptGraphSchema, InterventionSetSchema } from '../../core/schemas/paper.js';
import {
  type CounterfactualInput,
  CounterfactualInputSchema,
  type GpuHeartbeat,
  type RunProgress,
} from '../../core/schemas/workflow-io.js';
import type { counterfactualWorkflow } from '../../workflows/counterfactual.js';
import { CliError } from '../cli-error.js';
import { defineCommand } from '../command-definition.js';
import { artifactStoreOf } from '../config-store.js';
import { parseEditBatch } from '../edit-batch-arg.js';
import { followWorkflow } from '../follow-workflow.js';
import { readBytes, readJsonFile } from '../input-files.js';
import { parseDoRequest, parseMethods, parseSteps, SHARED_OPTIONS, withSteps } from '../option-parsers.js';
import { printDetached, startOnLightQueue } from '../start-workflow.js';

export const RUN = defineCommand({
  name: 'run',
  synopsis: [
    'cgm run IMAGE [--graph G.json] [--interventions I.json | --do CONCEPT=VALUE ...]',
    '    [--caption TEXT] [--methods csg,ddpm,ddim] [--engine S.json] [--steps N] [--webhook URL]',
    '    [--edit-batch N] [--id ID] [--no-judge] [--detach]',
  ],
  about: 'One image through the counterfactual workflow; progress on stderr, the result as JSON on stdout.',
  options: {
    graph: { type: 'string', value: 'G.json', help: "the causal graph (skips the VLM's extraction)" },
    interventions: {
      type: 'string',
      value: 'I.json',
      help: "the do()s as an intervention set (skips the VLM's proposals; needs --graph)",
    },
    do: {
      type: 'string',
      multiple: true,
      value: 'CONCEPT=VALUE',
      help: 'do(CONCEPT = VALUE), repeatable: CONCEPT is a concept id or name; the VLM works out the changed descendants (instead of --interventions)',
    },
    caption: { type: 'string', value: 'TEXT', help: 'base prompt Y (default: the VLM describes the image)' },
    methods: SHARED_OPTIONS.methods,
    engine: {
      type: 'string',
      value: 'S.json',
      help: 'engine settings JSON (gpu-worker/engine/settings.ts); --steps overrides its steps',
    },
    steps: SHARED_OPTIONS.steps,
    'edit-batch': SHARED_OPTIONS['edit-batch'],
    webhook: { type: 'string', value: 'URL', help: "POST the run's events to URL (signed)" },
    id: { type: 'string', value: 'ID', help: 'workflow id (default cf-<image sha256 prefix>-<time>)' },
    'no-judge': { type: 'boolean', help: 'skip the VLM judge' },
    detach: SHARED_OPTIONS.detach,
  },
});

export async function run(argv: string[]): Promise<number> {
  const args = RUN.parse(argv);
  if (!args) return 0;
  const { values, positionals } = args;
  if (positionals.length !== 1) throw RUN.usageError('expected one IMAGE');
  if (values.interventions && !values.graph)
    throw new CliError('--interventions needs --graph: the do()s name concepts of a graph', 2);
  if (values.interventions && values.do)
    throw new CliError('give --interventions or --do, not both: --do asks the VLM to propagate each do()', 2);
  const doRequests = values.do?.map(parseDoRequest);
  const steps = values.steps === undefined ? undefined : parseSteps(values.steps);
  const methods = parseMethods(values.methods ?? 'csg,ddpm,ddim');

  const config = loadConfig();
  const imageBytes = await readBytes(positionals[0]);
  const graph = values.graph
    ? await readJsonFile(values.graph, ConceptGraphSchema, 'concept graph')
    : undefined;
  const interventions = values.interventions
    ? (await readJsonFile(values.interventions, InterventionSetSchema, 'intervention set')).interventions
    : undefined;
  const settings: Record<string, unknown> = values.engine
    ? await readJsonFile(values.engine, z.record(z.string(), z.json()), 'engine settings')
    : {};
  const engine = steps === undefined ? settings : withSteps(settings, steps);
  const editBatch = values['edit-batch'] === undefined ? undefined : parseEditBatch(values['edit-batch']);

  const store = artifactStoreOf(config);
  // Everything is checked before the image is stored.
  const parsed = CounterfactualInputSchema.omit({ image: true }).safeParse({
    caption: values.caption ?? null,
    graph,
    interventions,
    do: doRequests,
    methods,
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
    const handle = await startOnLightQueue<typeof counterfactualWorkflow>(
      client,
      config,
      'counterfactualWorkflow',
      workflowId,
      [input],
    );
    if (values.detach) return printDetached(workflowId);
    try {
      const out = await followWorkflow(handle, {
        poll: async () => {
          const [progress, step] = await Promise.all([
            handle.query<RunProgress>(PROGRESS_QUERY),
            gpuStep(handle).catch(() => null),
          ]);
          return { progress, step };
        },
        frame: progressFrame,
        intervalMs: 500,
        onCancel: 'the manifest of what finished is still written',
      });
      process.stdout.write(
        `${JSON.stringify({ workflowId, status: out.status, outputs: out.outputs, manifest: out.manifest })}\n`,
      );
      return 0;
    } catch (err) {
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

/** The GPU step when a GPU activity reports one (its rate is what a user waits on), else the outputs. */
function progressFrame({ progress: p, step }: { progress: RunProgress; step: GpuHeartbeat | null }) {
  const outputs = `${p.outputs.done}/${p.outputs.total} outputs`;
  const phase = String(p.phase).padEnd(9);
  if (step)
    return {
      label: `${phase} ${step.phase}${step.stage ? `/${step.stage}` : ''}`,
      done: step.step,
      total: step.total,
      unit: 'steps',
      detail: `(${outputs})`,
    };
  return { label: phase, done: p.outputs.done, total: p.outputs.total, unit: 'outputs' };
}

function sniff(bytes: Uint8Array): string {
  if (bytes[0] === 0x89 && bytes[1] === 0x50) return 'image/png';
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return 'image/jpeg';
  if (bytes[0] === 0x52 && bytes[1] === 0x49 && bytes[8] === 0x57) return 'image/webp';
  throw new CliError('IMAGE: expected a PNG, JPEG or WebP file', 2);
}
