// The world VLM (core/world/vlm-server.ts) driven exactly as the light worker drives a VLM: the project's
// VLM activities (activities/vlm, through the real `openai` client) against the server on loopback, with
// renders of known attributes from `cgm world render` / `cgm world dataset`. Until world/model/oracle.onnx
// exists the server reads images with an injected reader that knows each test image's attributes; one
// block runs the real ONNX oracle and skips (saying so) while that file is missing.
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApplicationFailure } from '@temporalio/common';
import OpenAI from 'openai';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createVlmActivities,
  judgeChecklist,
  VLM_FAILURE,
  type VlmSettingsInput,
} from '../../activities/vlm/index.js';
import { sceneDescriptionPrompt } from '../../core/prompts/describe.js';
import { extractorPrompt } from '../../core/prompts/extractor.js';
import { judgePrompt } from '../../core/prompts/judge.js';
import {
  manipulatorParamsFromGraph,
  manipulatorPrompt,
  userInterventionPrompt,
} from '../../core/prompts/manipulator.js';
import { responseFormatFor } from '../../core/schemas/json-schema.js';
import {
  type ConceptGraph,
  ConceptGraphSchema,
  type Intervention,
  InterventionSetSchema,
  JudgeVerdictSchema,
} from '../../core/schemas/paper.js';
import { abduceNoise, noiseInterval, propagateDo } from '../../core/world/abduction.js';
import { CAPTION_TEMPLATES, caption } from '../../core/world/caption.js';
import { loadWorldDataset, type WorldDataset } from '../../core/world/dataset.js';
import {
  changedAttributes,
  counterfactual,
  loadWorldScm,
  solve,
  type WorldAttributes,
  type WorldNoise,
  worldConceptGraph,
  worldConceptIds,
} from '../../core/world/scm.js';
import {
  manipulationTargets,
  recognisePrompt,
  verdictFor,
  type WorldReader,
} from '../../core/world/vlm-answers.js';
import {
  type RunningWorldVlm,
  startWorldVlmServer,
  type WorldVlmStats,
} from '../../core/world/vlm-server.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const scm = loadWorldScm();
const { conceptOf, attributeOf } = worldConceptIds(scm);
const MODEL = 'Qwen/Qwen3-VL-30B-A3B-Instruct';
const ORACLE_ONNX = join(root, 'world/model/oracle.onnx');

function cgm(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/cgm.mjs', ...args], { cwd: root }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const phrase = (id: string, value: string) => scm.attributes.find((a) => a.id === id)!.phrases[value];
const valueOfPhrase = (id: string, p: string) => {
  const a = scm.attributes.find((x) => x.id === id)!;
  return a.values.find((v) => a.phrases[v] === p)!;
};

interface Render {
  png: Uint8Array;
  attributes: WorldAttributes;
  caption: string;
  cf?: { png: Uint8Array; attributes: WorldAttributes; caption: string };
}

let dir = '';
let datasetDir = '';
let dataset: WorldDataset;
const renders = new Map<number, Render>();
/** sha256 of every test image → its true attributes: what the injected reader "sees". */
const known = new Map<string, WorldAttributes>();
const reader: WorldReader = {
  async read(images) {
    return images.map((b) => {
      const a = known.get(sha(b));
      if (!a) throw new Error(`test reader: image ${sha(b).slice(0, 12)} is not one of the test renders`);
      return Object.fromEntries(Object.entries(a).map(([k, v]) => [k, { value: v, probability: 1 }]));
    });
  },
};

async function render(seed: number, doArg?: string): Promise<Render> {
  const out = join(dir, `seed${seed}${doArg ? '-do' : ''}.png`);
  const r = await cgm(
    'world',
    'render',
    '--seed',
    String(seed),
    '--out',
    out,
    ...(doArg ? ['--do', doArg] : []),
  );
  expect(r.code, r.stderr).toBe(0);
  const info = JSON.parse(r.stdout);
  const png = new Uint8Array(await readFile(out));
  known.set(sha(png), info.attributes);
  const result: Render = { png, attributes: info.attributes, caption: info.caption };
  if (info.counterfactual) {
    const cfPng = new Uint8Array(await readFile(info.counterfactual.image));
    known.set(sha(cfPng), info.counterfactual.attributes);
    result.cf = {
      png: cfPng,
      attributes: info.counterfactual.attributes,
      caption: info.counterfactual.caption,
    };
  }
  return result;
}

let plain: RunningWorldVlm; // U abduced from what is seen
let withData: RunningWorldVlm; // --dataset: a data set scene's exact U

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cgm-world-vlm-'));
  for (const seed of [1, 2, 4]) renders.set(seed, await render(seed));
  renders.set(20, await render(2, 'season=winter'));
  datasetDir = join(dir, 'dataset');
  const d = await cgm('world', 'dataset', '--n', '3', '--seed', '11', '--out', datasetDir);
  expect(d.code, d.stderr).toBe(0);
  dataset = loadWorldDataset(datasetDir, scm);
  for (const scene of dataset.scenes) {
    known.set(sha(await readFile(scene.imagePath)), scene.attributes);
    for (const iv of scene.interventions)
      known.set(sha(await readFile(join(datasetDir, iv.image))), iv.attributes);
  }
  plain = await startWorldVlmServer({ reader });
  withData = await startWorldVlmServer({ reader, dataset: datasetDir });
}, 120_000);

afterAll(async () => {
  await plain?.close();
  await withData?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

// ---- the activities, as the light worker runs them ---------------------------------------------------

const images = new Map<string, Uint8Array>();
function refOf(png: Uint8Array) {
  const key = `images/${sha(png)}`;
  images.set(key, png);
  return { bucket: 'cgm', key, sha256: sha(png), bytes: png.byteLength, contentType: 'image/png' };
}

function activities(server: RunningWorldVlm, settings: Partial<VlmSettingsInput> = {}, presign?: string) {
  return createVlmActivities({
    // no re-asks: every first answer must already be valid
    settings: {
      baseURL: server.baseURL,
      model: MODEL,
      timeoutMs: 20_000,
      maxValidationRetries: 0,
      ...settings,
    },
    store: {
      get: async (ref) => images.get(ref.key)!,
      presignGet: async (ref) => `${presign}/${ref.key}`,
    },
  });
}

async function graphOf(server: RunningWorldVlm, png: Uint8Array, captionText: string): Promise<ConceptGraph> {
  const out = await activities(server).extractConcepts({ image: refOf(png), caption: captionText });
  return out.graph.graph;
}

/**
 * What the SCM says an intervention must look like, for observed attributes and noise U: the counterfactual
 * of core/world/scm.ts (or, for an observation the SCM cannot produce, propagateDo, which holds the
 * non-descendants as seen).
 */
function expectPropagation(iv: Intervention, observed: WorldAttributes, noise: WorldNoise, held = false) {
  const target = attributeOf.get(iv.target_concept_id)!;
  const value = valueOfPhrase(target, iv.new_value);
  expect(value, `new_value '${iv.new_value}' is a phrase of ${target}`).toBeDefined();
  const cf = held
    ? propagateDo(scm, observed, noise, { [target]: value }).attributes
    : counterfactual(scm, noise, { [target]: value });
  const changed = changedAttributes(scm, observed, cf).filter((id) => id !== target);
  expect(iv.original_value).toBe(phrase(target, observed[target]));
  expect(iv.propagated_changes.map((c) => attributeOf.get(c.concept_id))).toEqual(changed);
  for (const c of iv.propagated_changes) {
    const id = attributeOf.get(c.concept_id)!;
    expect(c).toMatchObject({
      concept_name: scm.attributes.find((a) => a.id === id)!.name,
      original_value: phrase(id, observed[id]),
      new_value: phrase(id, cf[id]),
    });
    expect(c.reason).toMatch(/→/);
  }
  expect(iv.final_concept_states).toEqual(
    Object.fromEntries([target, ...changed].map((id) => [conceptOf.get(id)!, phrase(id, cf[id])])),
  );
  expect(iv.generation_prompt).toBe(caption(scm, cf));
  return { target, value, cf };
}

describe('world VLM through the VLM activities (injected reader)', () => {
  it('describes a scene with the world caption of what it sees (captions.py template 0)', async () => {
    for (const seed of [1, 2, 4]) {
      const r = renders.get(seed)!;
      const out = await activities(plain).describeScene({ image: refOf(r.png) });
      expect(out.text).toBe(r.caption); // what Python's caption() printed
      expect(out.text).toBe(caption(scm, r.attributes));
      expect(out.attempts).toHaveLength(1);
      expect(out.attempts[0].error).toBeNull();
    }
  });

  it('extracts the world concept graph (Fig. 2) with the values it sees', async () => {
    const r = renders.get(1)!;
    const out = await activities(plain).extractConcepts({ image: refOf(r.png), caption: r.caption });
    expect(out.graph.original).toEqual(worldConceptGraph(scm, r.attributes));
    expect(out.graph.graph).toEqual(worldConceptGraph(scm, r.attributes));
    expect(out.graph.issues).toEqual([]);
    expect(out.graph.repairs).toEqual([]);
    expect(ConceptGraphSchema.parse(out.graph.original)).toBeTruthy();
  });

  it('proposes the three Fig. 3 manipulations (many / few / no descendants), propagated by the SCM with abduced U', async () => {
    expect(manipulationTargets(scm).slice(0, 3)).toEqual(['season', 'time_of_day', 'car_color']);
    for (const seed of [1, 2, 4]) {
      const r = renders.get(seed)!;
      const graph = await graphOf(plain, r.png, r.caption);
      const out = await activities(plain).proposeInterventions({
        image: refOf(r.png),
        graph,
        basePrompt: r.caption,
      });
      expect(out.notes).toEqual([]);
      expect(out.interventions.map((x) => x.intervention.target_concept_id)).toEqual(['c1', 'c2', 'c3']);
      const noise = abduceNoise(scm, r.attributes).noise;
      for (const rec of out.interventions) {
        expect(rec.check.violations).toEqual([]);
        expect(rec.check.unchanged_descendants.length).toBeLessThanOrEqual(rec.check.descendants.length);
        const { target, value } = expectPropagation(rec.intervention, r.attributes, noise);
        expect(value).not.toBe(r.attributes[target]);
      }
      // car_color has no descendants: nothing else changes
      expect(out.interventions[2].intervention.propagated_changes).toEqual([]);
      // deterministic: the same image gets the same proposals
      const again = await activities(plain).proposeInterventions({
        image: refOf(r.png),
        graph,
        basePrompt: r.caption,
      });
      expect(again.interventions).toEqual(out.interventions);
    }
  });

  it('answers with or without structured output (json_schema, json_object, none)', async () => {
    const r = renders.get(2)!;
    const graph = await graphOf(plain, r.png, r.caption);
    const answers = [];
    for (const structuredOutput of ['json_schema', 'json_object', 'none'] as const) {
      const out = await activities(plain, { structuredOutput }).proposeInterventions({
        image: refOf(r.png),
        graph,
        basePrompt: r.caption,
        count: 2,
      });
      answers.push(out.interventions.map((x) => x.intervention));
    }
    expect(answers[0]).toHaveLength(2);
    expect(answers[1]).toEqual(answers[0]);
    expect(answers[2]).toEqual(answers[0]);
  });

  it('propagates a user do() by concept name or id, value or value phrase', async () => {
    const r = renders.get(2)!; // summer, day, sunny
    const graph = await graphOf(plain, r.png, r.caption);
    const noise = abduceNoise(scm, r.attributes).noise;
    for (const [concept, value, attr, v] of [
      ['season', 'winter', 'season', 'winter'],
      ['c1', 'Autumn Season', 'season', 'autumn'],
      ['time of day', 'night time', 'time_of_day', 'night'],
      ['weather', 'rainy', 'weather', 'rainy'],
      ['car color', 'red car', 'car_color', 'red'],
    ]) {
      const out = await activities(plain).propagateIntervention({
        image: refOf(r.png),
        graph,
        basePrompt: r.caption,
        concept,
        value,
      });
      const iv = out.intervention.intervention;
      expect(out.intervention.source).toBe('user');
      expect(out.intervention.check.violations).toEqual([]);
      expect(iv.target_concept_id).toBe(conceptOf.get(attr));
      expect(iv.new_value).toBe(phrase(attr, v));
      expectPropagation(iv, r.attributes, noise);
    }
  });

  it('refuses a do() of a value the world does not have with HTTP 400 (unknown_value)', async () => {
    const r = renders.get(2)!;
    const graph = await graphOf(plain, r.png, r.caption);
    const err = await activities(plain)
      .propagateIntervention({
        image: refOf(r.png),
        graph,
        basePrompt: r.caption,
        concept: 'season',
        value: 'monsoon',
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).type).toBe(VLM_FAILURE.requestRejected);
    expect((err as ApplicationFailure).message).toMatch(
      /HTTP 400.*'monsoon' is not a value of season.*winter/,
    );
  });

  it('refuses a do() of a concept the world does not have with HTTP 400 (unknown_concept)', async () => {
    const r = renders.get(2)!;
    const graph = await graphOf(plain, r.png, r.caption);
    const extended: ConceptGraph = {
      ...graph,
      concepts: [
        ...graph.concepts,
        { id: 'c10', name: 'bicycle', current_value: 'red bicycle', description: 'a bicycle' },
      ],
    };
    const err = await activities(plain)
      .propagateIntervention({
        image: refOf(r.png),
        graph: extended,
        basePrompt: r.caption,
        concept: 'bicycle',
        value: 'blue bicycle',
      })
      .catch((e: unknown) => e);
    expect((err as ApplicationFailure).type).toBe(VLM_FAILURE.requestRejected);
    expect((err as ApplicationFailure).message).toMatch(
      /HTTP 400.*the concept 'bicycle' \(id c10\) is not an attribute of the street world/,
    );
  });

  it('judges each checklist item by what it sees, with the Fig. 6 verdict rule', async () => {
    const r = renders.get(20)!; // seed 2 rendered under do(season=winter): r.cf is the true counterfactual
    const cf = r.cf!.attributes;
    const graph = worldConceptGraph(scm, r.attributes);
    // expected values: the true counterfactual for the target and k of its descendants, wrong for the rest
    const make = (rightDescendants: number, targetRight = true): Intervention => {
      const ids = ['weather', 'foliage', 'sky', 'road'];
      const states: Record<string, string> = {
        c1: phrase('season', targetRight ? cf.season : 'spring'),
      };
      const changes = ids.map((id, i) => {
        const a = scm.attributes.find((x) => x.id === id)!;
        const value = i < rightDescendants ? cf[id] : a.values.find((v) => v !== cf[id])!;
        states[conceptOf.get(id)!] = a.phrases[value];
        return {
          concept_id: conceptOf.get(id)!,
          concept_name: a.name,
          original_value: a.phrases[r.attributes[id]],
          new_value: a.phrases[value],
          reason: 'test',
        };
      });
      return {
        id: 'intervention_1',
        target_concept_id: 'c1',
        target_concept_name: 'season',
        intervention_description: 'test',
        original_value: phrase('season', r.attributes.season),
        new_value: states.c1,
        propagated_changes: changes,
        final_concept_states: states,
        generation_prompt: caption(scm, cf),
      };
    };
    const judge = async (iv: Intervention) => {
      const out = await activities(plain).judgeCounterfactual({
        image: refOf(r.cf!.png),
        intervention: iv,
        graph,
      });
      return {
        ...out,
        judge: { verdict: out.judge.verdict.verdict, checklistScore: out.judge.checklistScore },
      };
    };
    const all = await judge(make(4));
    expect(all.judge).toEqual({ verdict: 'success', checklistScore: 1 });
    expect(all.checklist).toHaveLength(5);
    expect((await judge(make(3))).judge).toEqual({ verdict: 'partial', checklistScore: 0.8 });
    expect((await judge(make(2))).judge).toEqual({ verdict: 'partial', checklistScore: 0.6 });
    expect((await judge(make(1))).judge).toEqual({ verdict: 'failure', checklistScore: 0.4 }); // most are "no"
    expect((await judge(make(4, false))).judge).toEqual({ verdict: 'failure', checklistScore: 0.8 }); // target not seen
  });

  it('verdict rule: success iff all yes; failure if the main item is no or most are no; else partial', () => {
    const c = (...p: ('yes' | 'no')[]) => p.map((present) => ({ present }));
    expect(verdictFor(c('yes', 'yes', 'yes'), 0)).toBe('success');
    expect(verdictFor(c('yes', 'yes', 'no'), 0)).toBe('partial');
    expect(verdictFor(c('yes', 'no'), 0)).toBe('partial'); // a tie with the main change visible
    expect(verdictFor(c('yes', 'no', 'no'), 0)).toBe('failure'); // most are no
    expect(verdictFor(c('no', 'yes', 'yes'), 0)).toBe('failure'); // the main change is not visible
    expect(verdictFor(c('yes', 'yes', 'no'), 2)).toBe('failure');
    expect(verdictFor([], 0)).toBe('failure');
  });

  it('sends images as presigned URLs too: the server fetches them', async () => {
    const r = renders.get(4)!;
    const files: Server = createServer((req, res) => {
      const png = images.get((req.url ?? '').slice(1));
      if (!png) res.writeHead(404).end();
      else res.writeHead(200, { 'content-type': 'image/png' }).end(Buffer.from(png));
    });
    await new Promise<void>((done) => files.listen(0, '127.0.0.1', done));
    try {
      const url = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
      const out = await activities(plain, { imageTransport: 'presigned-url' }, url).describeScene({
        image: refOf(r.png),
      });
      expect(out.text).toBe(r.caption);
    } finally {
      await new Promise<void>((done) => files.close(() => done()));
    }
  });
});

describe('--dataset: a data set scene is propagated with its exact U', () => {
  it("gives the true counterfactual of each of the data set's interventions", async () => {
    const before = withData.stats().datasetMatches;
    for (const scene of dataset.scenes) {
      const png = new Uint8Array(await readFile(scene.imagePath));
      const graph = await graphOf(withData, png, scene.caption);
      for (const iv of scene.interventions) {
        const [[target, value]] = Object.entries(iv.do);
        const out = await activities(withData).propagateIntervention({
          image: refOf(png),
          graph,
          basePrompt: scene.caption,
          concept: conceptOf.get(target)!,
          value,
        });
        const got = out.intervention.intervention;
        const { cf } = expectPropagation(got, scene.attributes, scene.u.noise);
        expect(cf).toEqual(iv.attributes);
        expect(got.propagated_changes.map((c) => attributeOf.get(c.concept_id))).toEqual(
          iv.changed.filter((id) => id !== target),
        );
        expect(got.generation_prompt).toBe(iv.caption); // Python's caption of the true counterfactual
      }
      const proposed = await activities(withData).proposeInterventions({
        image: refOf(png),
        graph,
        basePrompt: scene.caption,
      });
      for (const rec of proposed.interventions)
        expectPropagation(rec.intervention, scene.attributes, scene.u.noise);
      // without the data set the same image is propagated with U abduced from what is seen
      const abduced = abduceNoise(scm, scene.attributes).noise;
      const guessed = await activities(plain).proposeInterventions({
        image: refOf(png),
        graph,
        basePrompt: scene.caption,
      });
      for (const rec of guessed.interventions) expectPropagation(rec.intervention, scene.attributes, abduced);
    }
    expect(withData.stats().datasetMatches - before).toBe(dataset.scenes.length * 4);
  });
});

// ---- the HTTP surface, through the openai client and fetch ----------------------------------------------

const dataUrl = (png: Uint8Array) => `data:image/png;base64,${Buffer.from(png).toString('base64')}`;
type Content =
  | string
  | ({ type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string } })[];
const userContent = (text: string, png?: Uint8Array): Content =>
  png
    ? [
        { type: 'image_url', image_url: { url: dataUrl(png) } },
        { type: 'text', text },
      ]
    : text;

function ask(text: string, png?: Uint8Array, extra: Record<string, unknown> = {}) {
  const client = new OpenAI({ baseURL: plain.baseURL, apiKey: 'EMPTY', maxRetries: 0 });
  return client.chat.completions.create({
    model: MODEL,
    messages: [{ role: 'user', content: userContent(text, png) }],
    ...extra,
  } as OpenAI.ChatCompletionCreateParamsNonStreaming);
}

async function post(body: unknown): Promise<{ status: number; body: { error: Record<string, unknown> } }> {
  const res = await fetch(`${plain.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as { error: Record<string, unknown> } };
}

const statsOf = async (s: RunningWorldVlm) =>
  (await (await fetch(s.baseURL.replace(/\/v1$/, '/stats'))).json()) as WorldVlmStats;

describe('world VLM over HTTP', () => {
  it('lists its model and answers with chat.completion bodies', async () => {
    const client = new OpenAI({ baseURL: plain.baseURL, apiKey: 'EMPTY', maxRetries: 0 });
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['cgm-world-vlm']);
    const res = await ask(sceneDescriptionPrompt(), renders.get(1)!.png);
    expect(res.id).toMatch(/^chatcmpl-/);
    expect(res.object).toBe('chat.completion');
    expect(res.model).toBe(MODEL);
    expect(res.choices[0]).toMatchObject({ index: 0, finish_reason: 'stop', message: { role: 'assistant' } });
    expect(res.choices[0].message.content).toBe(renders.get(1)!.caption);
    expect(res.usage!.total_tokens).toBe(res.usage!.prompt_tokens + res.usage!.completion_tokens);
    expect(res.usage!.prompt_tokens).toBeGreaterThan(256);
  });

  it('recognises each prompt by its text, answers it schema-valid and counts it per kind', async () => {
    const r = renders.get(4)!;
    const graph = worldConceptGraph(scm, r.attributes);
    const params = manipulatorParamsFromGraph(graph, r.caption);
    const setOf = async (text: string) =>
      InterventionSetSchema.parse(JSON.parse((await ask(text, r.png)).choices[0].message.content!));
    const before = await statsOf(plain);

    expect((await ask(sceneDescriptionPrompt(), r.png)).choices[0].message.content).toBe(r.caption);
    const extracted = await ask(extractorPrompt({ prompt: r.caption }), r.png, {
      response_format: responseFormatFor('concept_graph', ConceptGraphSchema),
    });
    expect(ConceptGraphSchema.parse(JSON.parse(extracted.choices[0].message.content!))).toEqual(graph);
    const proposed = await setOf(manipulatorPrompt(params));
    expect(proposed.interventions.map((i) => i.target_concept_name)).toEqual([
      'season',
      'time of day',
      'car color',
    ]);
    const done = await setOf(
      userInterventionPrompt({
        ...params,
        target_concept_id: 'c2',
        target_concept_name: 'time of day',
        original_value: 'daytime',
        new_value: 'night',
      }),
    );
    expect(done.interventions).toHaveLength(1);
    const iv = done.interventions[0];
    const verdict = JudgeVerdictSchema.parse(
      JSON.parse(
        (
          await ask(
            judgePrompt({
              generation_prompt: iv.generation_prompt,
              target_concept_name: 'time of day',
              original_value: iv.original_value,
              new_value: iv.new_value,
              checklist: judgeChecklist(iv, graph),
            }),
            r.png, // the factual image: the night is not there
          )
        ).choices[0].message.content!,
      ),
    );
    expect(verdict.concept_checks.every((c) => c.present === 'no')).toBe(true);
    expect(verdict.verdict).toBe('failure');

    const after = await statsOf(plain);
    for (const kind of ['describe', 'extract', 'manipulate', 'propagate', 'judge'] as const)
      expect(after.requests[kind] - before.requests[kind], kind).toBe(1);
  });

  it('maps a do() concept given as attribute id or value phrase, and a value given as value or phrase', async () => {
    const r = renders.get(4)!; // winter, day
    const graph = worldConceptGraph(scm, r.attributes);
    const params = manipulatorParamsFromGraph(graph, r.caption);
    const noise = abduceNoise(scm, r.attributes).noise;
    for (const [name, newValue] of [
      ['time_of_day', 'night'],
      ['daytime', 'Night Time'],
      ['TIME OF DAY', 'night_time'],
    ]) {
      const text = userInterventionPrompt({
        ...params,
        target_concept_id: 'x1', // not in the graph: the name alone decides
        target_concept_name: name,
        original_value: 'daytime',
        new_value: newValue,
      });
      const set = InterventionSetSchema.parse(
        JSON.parse((await ask(text, r.png)).choices[0].message.content!),
      );
      const iv = set.interventions[0];
      expect(iv).toMatchObject({
        target_concept_id: 'x1',
        target_concept_name: name,
        new_value: 'night time',
      });
      const cf = propagateDo(scm, r.attributes, noise, { time_of_day: 'night' }).attributes;
      expect(iv.generation_prompt).toBe(caption(scm, cf));
      expect(iv.propagated_changes.map((c) => c.concept_id)).toEqual(['c9', 'c6']); // lamp, sky
    }
  });

  it('refuses an unknown do() concept or value with an OpenAI-style 400 body', async () => {
    const r = renders.get(4)!;
    const params = manipulatorParamsFromGraph(worldConceptGraph(scm, r.attributes), r.caption);
    const body = (name: string, value: string) => ({
      model: MODEL,
      messages: [
        {
          role: 'user',
          content: userContent(
            userInterventionPrompt({
              ...params,
              target_concept_id: 'c42',
              target_concept_name: name,
              original_value: 'x',
              new_value: value,
            }),
            r.png,
          ),
        },
      ],
    });
    const concept = await post(body('bicycle', 'blue bicycle'));
    expect(concept.status).toBe(400);
    expect(concept.body.error).toMatchObject({
      type: 'invalid_request_error',
      code: 'unknown_concept',
      param: 'messages',
    });
    expect(concept.body.error.message).toMatch(/'bicycle'.*not an attribute.*season \(season\)/);
    const value = await post(body('weather', 'foggy'));
    expect(value.status).toBe(400);
    expect(value.body.error).toMatchObject({ code: 'unknown_value' });
    expect(value.body.error.message).toMatch(/'foggy' is not a value of weather.*snowy \("snowy weather"\)/);
  });

  it('answers "no" for a judge checklist item that names nothing in this world', async () => {
    const r = renders.get(1)!;
    const res = await ask(
      judgePrompt({
        generation_prompt: r.caption,
        target_concept_name: 'road surface',
        original_value: 'dry road',
        new_value: 'wet road',
        checklist: [
          { concept_name: 'road surface', expected_value: 'wet road' },
          { concept_name: 'c7', expected_value: 'wet road' }, // an id as name: the phrase decides
          { concept_name: 'bicycle', expected_value: 'red bicycle' },
        ],
      }),
      r.png,
    );
    const v = JudgeVerdictSchema.parse(JSON.parse(res.choices[0].message.content!));
    expect(v.concept_checks.map((c) => c.present)).toEqual(['yes', 'yes', 'no']);
    expect(v.verdict).toBe('partial');
    expect(v.reasoning).toMatch(/'bicycle' is not a concept of this world/);
  });

  it('400 for an unrecognised prompt, naming it, through the openai client too', async () => {
    const err = await ask('Tell me a joke about causality.', renders.get(1)!.png).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as InstanceType<typeof OpenAI.BadRequestError>).status).toBe(400);
    expect((err as Error).message).toMatch(/unrecognised prompt.*'Tell me a joke about causality\.'/);
    // a known prompt with an edit is not that prompt any more
    const edited = await post({
      model: MODEL,
      messages: [
        { role: 'user', content: userContent(`${sceneDescriptionPrompt()} In French.`, renders.get(1)!.png) },
      ],
    });
    expect(edited.status).toBe(400);
    expect(edited.body.error).toMatchObject({ code: 'unrecognised_prompt', type: 'invalid_request_error' });
  });

  it('400 for requests it cannot serve, saying why', async () => {
    const png = renders.get(1)!.png;
    const rejectedBefore = (await statsOf(plain)).rejected;
    const cases: [unknown, RegExp][] = [
      [{ model: MODEL, messages: [{ role: 'user', content: sceneDescriptionPrompt() }] }, /needs an image/],
      [
        {
          model: MODEL,
          messages: [{ role: 'user', content: userContent(sceneDescriptionPrompt(), png) }],
          response_format: { type: 'json_object' },
        },
        /plain-text caption.*JSON/,
      ],
      [
        {
          model: MODEL,
          messages: [{ role: 'user', content: userContent(extractorPrompt({ prompt: 'x' }), png) }],
          response_format: responseFormatFor('judge_verdict', JudgeVerdictSchema),
        },
        /json_schema 'judge_verdict' does not fit the concept extractor prompt/,
      ],
      [
        {
          model: MODEL,
          stream: true,
          messages: [{ role: 'user', content: userContent(sceneDescriptionPrompt(), png) }],
        },
        /streaming is not supported/,
      ],
      [
        {
          model: MODEL,
          messages: [
            {
              role: 'user',
              content: [
                {
                  type: 'image_url',
                  image_url: {
                    url: `data:image/png;base64,${Buffer.from('not an image at all').toString('base64')}`,
                  },
                },
                { type: 'text', text: sceneDescriptionPrompt() },
              ],
            },
          ],
        },
        /not a PNG, JPEG or WebP/,
      ],
      [{ messages: [{ role: 'user', content: 'hi' }] }, /model: expected/],
      [{ model: MODEL }, /messages: expected a non-empty array/],
      ['{"model": ', /not valid JSON/],
    ];
    for (const [body, message] of cases) {
      const res = await post(body);
      expect(res.status, String(message)).toBe(400);
      expect(res.body.error.message).toMatch(message);
    }
    expect((await statsOf(plain)).rejected - rejectedBefore).toBe(cases.length);
    const notFound = await fetch(plain.baseURL.replace(/\/v1$/, '/v1/embeddings'), { method: 'POST' });
    expect(notFound.status).toBe(404);
    expect(((await notFound.json()) as { error: { message: string } }).error.message).toMatch(
      /no route POST \/v1\/embeddings/,
    );
  });

  it('500 (server_error) when the image reader fails', async () => {
    const stranger = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#000' } })
      .png()
      .toBuffer();
    const failedBefore = (await statsOf(plain)).failed;
    const res = await post({
      model: MODEL,
      messages: [{ role: 'user', content: userContent(sceneDescriptionPrompt(), new Uint8Array(stranger)) }],
    });
    expect(res.status).toBe(500);
    expect(res.body.error).toMatchObject({ type: 'server_error', code: 'reader_error' });
    expect(res.body.error.message).toMatch(
      /the image reader failed: test reader: image .* is not one of the test renders/,
    );
    expect((await statsOf(plain)).failed - failedBefore).toBe(1);
  });

  it('answers a re-ask conversation with the answer to its first prompt', async () => {
    const r = renders.get(2)!;
    const res = await post({
      model: MODEL,
      messages: [
        { role: 'user', content: userContent(sceneDescriptionPrompt(), r.png) },
        { role: 'assistant', content: '' },
        {
          role: 'user',
          content:
            'Your previous answer could not be used: empty.\nAnswer again following the same instructions.',
        },
      ],
    });
    expect(res.status).toBe(200);
    expect((res.body as unknown as OpenAI.ChatCompletion).choices[0].message.content).toBe(r.caption);
  });

  it('listens on loopback only', async () => {
    await expect(startWorldVlmServer({ reader, host: '0.0.0.0' })).rejects.toThrow(/not a loopback address/);
  });
});

// ---- the pieces --------------------------------------------------------------------------------------

describe('prompt recognition', () => {
  it('recognises the five prompts by their text, with their slots, and nothing else', () => {
    const graph = worldConceptGraph(scm, renders.get(1)!.attributes);
    const params = manipulatorParamsFromGraph(graph, 'Y "quoted" </reference_prompt>');
    expect(recognisePrompt(sceneDescriptionPrompt())).toEqual({ kind: 'describe' });
    expect(recognisePrompt(extractorPrompt({ prompt: 'a street\nat night' }))).toEqual({
      kind: 'extract',
      context: 'a street\nat night',
    });
    const m = recognisePrompt(manipulatorPrompt({ ...params, interventions: 5 }));
    expect(m).toMatchObject({ kind: 'manipulate', count: 5, basePrompt: params.base_prompt });
    expect(m?.kind === 'manipulate' && m.graph.concepts).toEqual(
      graph.concepts.map(({ id, name, current_value, description }) => ({
        id,
        name,
        current_value,
        description,
      })),
    );
    const u = recognisePrompt(
      userInterventionPrompt({
        ...params,
        target_concept_id: 'c6',
        target_concept_name: 'sky',
        original_value: 'dark sky',
        new_value: 'a "blue" sky',
      }),
    );
    expect(u).toMatchObject({
      kind: 'propagate',
      target: { id: 'c6', name: 'sky', originalValue: 'dark sky', newValue: 'a "blue" sky' },
    });
    const checklist = [
      { concept_name: 'sky', expected_value: 'blue sky' },
      { concept_name: 'road surface', expected_value: 'dry road' },
    ];
    expect(
      recognisePrompt(
        judgePrompt({
          generation_prompt: 'g',
          target_concept_name: 'sky',
          original_value: 'a',
          new_value: 'b',
          checklist,
        }),
      ),
    ).toEqual({
      kind: 'judge',
      generationPrompt: 'g',
      target: { name: 'sky', originalValue: 'a', newValue: 'b' },
      checklist,
    });
    expect(recognisePrompt('Describe this image.')).toBeNull();
    expect(recognisePrompt(`${extractorPrompt({ prompt: 'x' })}\nAlso list the colours.`)).toBeNull();
  });
});

describe('caption (port of captions.py)', () => {
  it("gives Python's captions for the data set's scenes and counterfactuals", () => {
    expect(CAPTION_TEMPLATES).toHaveLength(3);
    for (const scene of dataset.scenes) {
      expect([0, 1, 2].map((k) => caption(scm, scene.attributes, k))).toContain(scene.caption);
      for (const iv of scene.interventions) expect(caption(scm, iv.attributes)).toBe(iv.caption);
    }
  });
});

describe('abduction', () => {
  // a small deterministic generator (mulberry32)
  const rng = (seed: number) => () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };

  it('takes midpoints that reproduce the observation, inside the intervals the true U lies in', () => {
    const next = rng(7);
    for (let n = 0; n < 300; n++) {
      const truth = Object.fromEntries(scm.attributes.map((a) => [a.id, next()]));
      const observed = solve(scm, truth);
      const a = abduceNoise(scm, observed);
      expect(a.inconsistent).toEqual([]);
      expect(solve(scm, a.noise)).toEqual(observed);
      for (const [id, i] of Object.entries(a.intervals)) {
        expect(truth[id]).toBeGreaterThanOrEqual(i.lo);
        expect(truth[id]).toBeLessThan(i.hi);
        expect(a.noise[id]).toBe((i.lo + i.hi) / 2);
      }
      for (const attr of scm.attributes)
        for (const v of attr.values) {
          const doMap = { [attr.id]: v };
          expect(propagateDo(scm, observed, a.noise, doMap).attributes).toEqual(
            counterfactual(scm, a.noise, doMap),
          );
          expect(propagateDo(scm, observed, truth, doMap).attributes).toEqual(
            counterfactual(scm, truth, doMap),
          );
        }
    }
  });

  it('can differ from the true counterfactual, which is what --dataset fixes', () => {
    // winter and snowy with u(weather) = 0.95: in summer that u is rainy; the midpoint of snowy's
    // interval [0.4, 1) is 0.7, which in summer is sunny
    const truth = {
      ...Object.fromEntries(scm.attributes.map((a) => [a.id, 0.5])),
      season: 0.9,
      weather: 0.95,
    };
    const observed = solve(scm, truth);
    expect(observed).toMatchObject({ season: 'winter', weather: 'snowy' });
    const abduced = abduceNoise(scm, observed).noise;
    expect(abduced.weather).toBeCloseTo(0.7);
    expect(counterfactual(scm, truth, { season: 'summer' }).weather).toBe('rainy');
    expect(propagateDo(scm, observed, abduced, { season: 'summer' }).attributes.weather).toBe('sunny');
  });

  it('gives an impossible observation u = 0.5 and keeps non-descendants as seen', () => {
    const observed = { ...solve(scm, Object.fromEntries(scm.attributes.map((a) => [a.id, 0.1]))) };
    observed.weather = 'snowy'; // in spring: p = 0
    const spring = scm.attributes.find((a) => a.id === 'weather')!;
    expect(noiseInterval(spring, { season: observed.season }, 'snowy')).toMatchObject({ consistent: false });
    const a = abduceNoise(scm, observed);
    expect(observed.season).toBe('spring');
    expect(a.inconsistent).toContain('weather');
    expect(a.noise.weather).toBe(0.5);
    const p = propagateDo(scm, observed, a.noise, {
      car_color: observed.car_color === 'red' ? 'blue' : 'red',
    });
    expect(p.changed).toEqual(['car_color']);
  });
});

// ---- the real oracle ---------------------------------------------------------------------------------

const NO_ORACLE = `world/model/oracle.onnx is missing (the oracle has not been trained yet: \`cgm world train\`)`;

describe('with the real ONNX oracle (world/model)', () => {
  it('answers from what the oracle reads: describe, extract, propose, propagate, judge', async (ctx) => {
    if (!existsSync(ORACLE_ONNX)) ctx.skip(NO_ORACLE);
    const { WorldOracle } = await import('../../core/world/oracle.js');
    const oracle = await WorldOracle.open(scm);
    const server = await startWorldVlmServer({}); // the default model folder
    try {
      const readOf = async (png: Uint8Array) =>
        Object.fromEntries(Object.entries((await oracle.read([png]))[0]).map(([k, v]) => [k, v.value]));
      const r = renders.get(2)!;
      const seen = await readOf(r.png);
      const agree = scm.attributes.filter((a) => seen[a.id] === r.attributes[a.id]).length;
      await ctx.annotate(`oracle reads ${agree}/9 attributes of seed 2 as rendered`);
      const acts = activities(server);
      expect((await acts.describeScene({ image: refOf(r.png) })).text).toBe(caption(scm, seen));
      const extracted = await acts.extractConcepts({ image: refOf(r.png), caption: r.caption });
      expect(extracted.graph.graph).toEqual(worldConceptGraph(scm, seen));
      const graph = extracted.graph.graph;
      const proposed = await acts.proposeInterventions({ image: refOf(r.png), graph, basePrompt: r.caption });
      expect(proposed.interventions).toHaveLength(3);
      const { noise, inconsistent } = abduceNoise(scm, seen);
      if (inconsistent.length > 0) await ctx.annotate(`impossible reading of ${inconsistent.join(', ')}`);
      const held = inconsistent.length > 0;
      for (const rec of proposed.interventions) {
        expect(rec.check.violations).toEqual([]);
        expectPropagation(rec.intervention, seen, noise, held);
      }
      if (seen.season !== 'winter') {
        const done = await acts.propagateIntervention({
          image: refOf(r.png),
          graph,
          basePrompt: r.caption,
          concept: 'season',
          value: 'winter',
        });
        const iv = done.intervention.intervention;
        expectPropagation(iv, seen, noise, held);
        // judge the true counterfactual render of do(season=winter): each item is what the oracle reads there
        const cfSeen = await readOf(renders.get(20)!.cf!.png);
        const judged = await acts.judgeCounterfactual({
          image: refOf(renders.get(20)!.cf!.png),
          intervention: iv,
          graph,
        });
        const expected = judged.checklist.map((item) => {
          const id = attributeOf.get(item.concept_id)!;
          return cfSeen[id] === valueOfPhrase(id, item.expected_value);
        });
        expect(judged.judge.checklistScore).toBeCloseTo(expected.filter(Boolean).length / expected.length);
        expect(judged.judge.verdict.verdict).toBe(
          verdictFor(
            expected.map((ok) => ({ present: ok ? 'yes' : 'no' })),
            0,
          ),
        );
      }
    } finally {
      await server.close();
      await oracle.release();
    }
  });

  it('`cgm world vlm` prints its base URL and serves until SIGTERM', async (ctx) => {
    if (!existsSync(ORACLE_ONNX)) ctx.skip(NO_ORACLE);
    const child = spawn(process.execPath, ['bin/cgm.mjs', 'world', 'vlm', '--port', '0'], { cwd: root });
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    try {
      const url = await new Promise<string>((done, fail) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const line = /^(http:\/\/127\.0\.0\.1:\d+\/v1)\n/.exec(out);
          if (line) done(line[1]);
        });
        child.on('exit', (code) =>
          fail(new Error(`cgm world vlm exited with ${code} before printing its URL`)),
        );
      });
      const models = (await (await fetch(`${url}/models`)).json()) as { data: { id: string }[] };
      expect(models.data[0].id).toBe('cgm-world-vlm');
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});

it('`cgm world vlm` without a trained oracle exits 2 and says how to get one', async () => {
  const r = await cgm('world', 'vlm', '--port', '0', '--model', join(dir, 'no-model-here'));
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/no trained oracle.*cgm world train/);
});
