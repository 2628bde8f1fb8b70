// counterfactualWorkflow with bare do() requests on the real stack (Temporal dev server, SeaweedFS,
// light + GPU workers on the tiny model): the VLM (a fake OpenAI-compatible server on loopback)
// propagates each do() once the graph is known; the records are the user's, the attempts the VLM's.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ConceptGraphSchema, type Intervention, InterventionSetSchema } from '../../core/schemas/paper.js';
import { RunManifestSchema } from '../../core/schemas/run-manifest.js';
import {
  type CounterfactualInput,
  CounterfactualInputCheckedSchema,
  CounterfactualInputSchema,
  type RunProgress,
} from '../../core/schemas/workflow-io.js';
import type { counterfactualWorkflow } from '../../workflows/counterfactual.js';
import { chatCompletion, type FakeVlmServer, startFakeVlmServer } from '../support/fake-vlm-server.js';
import { startTinyStack, type TinyStack, uniqueName } from './api-tiny-stack.js';

const services = inject('cgmServices');
const EXAMPLE = fileURLToPath(new URL('../../examples/rainy-street/', import.meta.url));
const graph = ConceptGraphSchema.parse(JSON.parse(readFileSync(`${EXAMPLE}graph.json`, 'utf8')));
const [sunny, snowy] = InterventionSetSchema.parse(
  JSON.parse(readFileSync(`${EXAMPLE}interventions.json`, 'utf8')),
).interventions;
const caption = readFileSync(`${EXAMPLE}caption.txt`, 'utf8').trim();
const ENGINE = { inversion: { numSteps: 4 }, baselines: { numSteps: 4 } };

/** The VLM's answer to the propagate prompt: one intervention, numbered as the VLM numbers it. */
const propagateAnswer = (intervention: Intervention) => ({
  body: chatCompletion(JSON.stringify({ interventions: [{ ...intervention, id: 'intervention_1' }] })),
});

let vlmServer: FakeVlmServer;
let stack: TinyStack;
let connection: Connection;
let client: Client;

beforeAll(async () => {
  vlmServer = await startFakeVlmServer();
  stack = await startTinyStack({
    temporal: services.temporal,
    s3: services.s3,
    vlmBaseURL: vlmServer.baseURL,
  });
  connection = await Connection.connect({ address: services.temporal.address });
  client = new Client({ connection, namespace: services.temporal.namespace });
});

afterAll(async () => {
  await stack?.close();
  await connection?.close();
  await vlmServer?.close();
});

async function uploadImage() {
  const bytes = readFileSync(`${EXAMPLE}image.png`);
  return (await stack.store.put(bytes, { contentType: 'image/png', prefix: 'inputs' })).ref;
}

function start(input: CounterfactualInput, name: string) {
  return client.workflow.start<typeof counterfactualWorkflow>('counterfactualWorkflow', {
    taskQueue: stack.lightQueue,
    workflowId: uniqueName(name),
    args: [input],
    workflowExecutionTimeout: '5m',
  });
}

/** The user-message text of a recorded chat request (the prompt; the image is the other part). */
function promptText(body: unknown): string {
  const content = (body as { messages: { content: string | { type: string; text?: string }[] }[] })
    .messages[0].content;
  return typeof content === 'string' ? content : content.map((p) => p.text ?? '').join('');
}

describe('counterfactualWorkflow with do() requests', () => {
  it('propagates each do() with the VLM, keeps them as the user’s, and edits every one', async () => {
    const before = vlmServer.requests.length;
    // do_2's first answer targets the wrong concept: the activity re-asks once.
    vlmServer.enqueue(propagateAnswer(sunny), propagateAnswer(sunny), propagateAnswer(snowy));
    const handle = await start(
      CounterfactualInputCheckedSchema.parse({
        image: await uploadImage(),
        caption,
        graph,
        do: [
          { concept: 'Weather', value: 'sunny weather' },
          { concept: 'c3', value: 'snowy road' },
        ],
        methods: ['csg'],
        engine: ENGINE,
        planning: { warmup: 1 },
        evaluate: { judge: false },
        hosts: { gpuTaskQueue: stack.gpuQueue },
      }),
      'cf-do',
    );
    const result = await handle.result();
    expect(result.outputs).toBe(2);
    const manifest = await stack.store.getJson(RunManifestSchema, result.manifest);

    expect(manifest.status).toBe('succeeded');
    expect(manifest.stages.describe?.status).toBe('skipped');
    expect(manifest.stages.extract?.status).toBe('skipped');
    expect(manifest.stages.propose).toMatchObject({
      status: 'succeeded',
      message: '2 do() request(s) given by the user, propagated by the VLM',
    });
    expect(manifest.interventions.map((r) => [r.source, r.intervention.id, r.check.intervention_id])).toEqual(
      [
        ['user', 'do_1', 'do_1'],
        ['user', 'do_2', 'do_2'],
      ],
    );
    expect(manifest.interventions.map((r) => r.intervention.target_concept_id)).toEqual(['c1', 'c3']);
    expect(manifest.interventions.every((r) => r.check.ok)).toBe(true);
    expect(manifest.interventions[0].intervention.propagated_changes.map((c) => c.concept_id)).toEqual(
      sunny.propagated_changes.map((c) => c.concept_id),
    );
    expect(
      manifest.vlmAttempts.map((a) => `${a.prompt}#${a.attempt}${a.error ? '!' : ''}@${a.interventionId}`),
    ).toEqual(['propagate#1@do_1', 'propagate#1!@do_2', 'propagate#2@do_2']);
    expect(manifest.vlmAttempts[1].error).toContain("target_concept_id must be 'c3'");
    // Plans and outputs use the renumbered ids; one CSG output per do().
    expect(manifest.plans.map((p) => `${p.interventionId}/${p.method}`)).toEqual(['do_1/csg', 'do_2/csg']);
    expect(manifest.outputs.map((o) => o.interventionId).sort()).toEqual(['do_1', 'do_2']);
    for (const o of manifest.outputs) await stack.store.get(o.image); // re-hashed against the ref

    // The prompts named the user's do()s, by the graph's concept names.
    const sent = vlmServer.requests.slice(before).map((r) => promptText(r.body));
    expect(sent).toHaveLength(3);
    expect(sent[0]).toContain('do(weather = sunny weather)');
    expect(sent[1]).toContain('do(road surface = snowy road)');
    expect(vlmServer.pending()).toBe(0);

    // Deterministic: the history replays against the same workflow code.
    await Worker.runReplayHistory(
      { workflowBundle: stack.workflowBundle },
      await handle.fetchHistory(),
      handle.workflowId,
    );
  });

  it('fails in the propose stage, before any GPU work, when a do() names no concept of the graph', async () => {
    const before = vlmServer.requests.length;
    const handle = await start(
      CounterfactualInputCheckedSchema.parse({
        image: await uploadImage(),
        caption,
        graph,
        do: [{ concept: 'hat colour', value: 'green hat' }],
        methods: ['csg'],
        engine: ENGINE,
        evaluate: { judge: false },
        hosts: { gpuTaskQueue: stack.gpuQueue },
      }),
      'cf-do-unknown',
    );
    const err = await handle.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause?.cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect((cause as ApplicationFailure).type).toBe('VlmInvalidInput');
    expect((cause as ApplicationFailure).message).toMatch(
      /^concept: 'hat colour' is neither an id nor a name/,
    );
    expect(vlmServer.requests.length).toBe(before); // refused before asking the VLM

    const progress = await handle.query<RunProgress>('progress');
    expect(progress.phase).toBe('failed');
    const manifest = await stack.store.getJson(RunManifestSchema, progress.manifest!);
    expect(manifest.status).toBe('failed');
    expect(manifest.stages.propose?.status).toBe('failed');
    expect(manifest.stages.invert?.status).toBe('skipped');
    expect(manifest.outputs).toEqual([]);
  });

  it('refuses do() together with interventions: in the schema, and in the workflow if the schema was bypassed', async () => {
    const raw = {
      image: await uploadImage(),
      caption,
      graph,
      interventions: [sunny],
      do: [{ concept: 'c1', value: 'foggy' }],
      hosts: { gpuTaskQueue: stack.gpuQueue },
    };
    const checked = CounterfactualInputCheckedSchema.safeParse(raw);
    expect(checked.success).toBe(false);
    expect(checked.error?.issues[0]).toMatchObject({ path: ['do'] });
    expect(checked.error?.issues[0].message).toContain('not both');

    const handle = await start(CounterfactualInputSchema.parse(raw), 'cf-do-both');
    const err = await handle.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause as ApplicationFailure;
    expect(cause.type).toBe('InvalidRunInput');
    expect(cause.nonRetryable).toBe(true);
  });
});
