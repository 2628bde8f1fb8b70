// The VLM activities against a real loopback HTTP server speaking the chat-completions protocol with
// recorded Qwen3-VL-like answers: what we send (prompt, sampling, image part, schema) and what we
// make of the answers (validation, re-asks, repairs, failure types).
import { ApplicationFailure } from '@temporalio/common';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createVlmActivities,
  createVlmTransport,
  describeScene,
  extractConcepts,
  judgeCounterfactual,
  propagateIntervention,
  proposeInterventions,
  resolveVlmSettings,
  type VlmContext,
  type VlmSettingsInput,
  vlmFailureDetails,
} from '../../activities/vlm/index.js';
import { ArtifactNotFoundError } from '../../core/artifacts/errors.js';
import { sceneDescriptionPrompt } from '../../core/prompts/describe.js';
import { extractorPrompt } from '../../core/prompts/extractor.js';
import {
  manipulatorParamsFromGraph,
  manipulatorPrompt,
  userInterventionPrompt,
} from '../../core/prompts/manipulator.js';
import { toJsonSchema } from '../../core/schemas/json-schema.js';
import {
  type ConceptGraph,
  ConceptGraphSchema,
  type InterventionSet,
  InterventionSetSchema,
  JudgeVerdictSchema,
} from '../../core/schemas/paper.js';
import {
  chatCompletion,
  errorReply,
  type FakeVlmServer,
  recorded,
  recordedContent,
  startFakeVlmServer,
} from '../support/fake-vlm-server.js';

const MODEL = 'Qwen/Qwen3-VL-30B-A3B-Instruct';
const CAPTION = 'A close-up portrait of a young woman with long blonde hair, smiling.';
let server: FakeVlmServer;
let png: Uint8Array;
let pngDataUrl: string;

const portraitGraph = (): ConceptGraph =>
  ConceptGraphSchema.parse(JSON.parse(recordedContent('portrait-extract')));
const portraitInterventions = (): InterventionSet =>
  InterventionSetSchema.parse(JSON.parse(recordedContent('portrait-propose')));

function ctx(overrides: Partial<VlmSettingsInput> = {}): VlmContext {
  const settings = resolveVlmSettings({
    baseURL: server.baseURL,
    model: MODEL,
    apiKey: 'test-key',
    timeoutMs: 5000,
    maxValidationRetries: 2,
    ...overrides,
  });
  return { transport: createVlmTransport(settings) };
}

type SentMessage = {
  role: string;
  content: string | { type: string; text?: string; image_url?: { url: string } }[];
};
type SentBody = {
  model: string;
  temperature: number;
  max_tokens: number;
  messages: SentMessage[];
  response_format?: { type: string; json_schema?: { name: string; schema: unknown; strict: boolean } };
};
const sent = (i: number) =>
  server.requests.filter((r) => r.path === '/v1/chat/completions')[i].body as SentBody;
const chatRequests = () => server.requests.filter((r) => r.path === '/v1/chat/completions').length;
const parts = (m: SentMessage) =>
  typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : m.content;
const textOf = (m: SentMessage) =>
  parts(m)
    .filter((p) => p.type === 'text')
    .map((p) => p.text)
    .join('');
const imageOf = (m: SentMessage) => parts(m).find((p) => p.type === 'image_url')?.image_url?.url;

/** Runs `fn`, expects an ApplicationFailure, returns it. */
async function failure(fn: () => Promise<unknown>): Promise<ApplicationFailure> {
  const err = await fn().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

beforeAll(async () => {
  server = await startFakeVlmServer();
  png = await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 200, g: 120, b: 40 } } })
    .png()
    .toBuffer();
  pngDataUrl = `data:image/png;base64,${Buffer.from(png).toString('base64')}`;
});
afterEach(() => {
  // Every scripted reply must have been consumed by the test that queued it.
  expect(server.pending()).toBe(0);
  server.requests.length = 0;
});
afterAll(async () => {
  await server.close();
});

describe('extractConcepts (paper Fig. 2)', () => {
  it('sends the Fig. 2 prompt, the image as a data URL, temperature 0.1, 2,048 tokens and the JSON Schema', async () => {
    server.enqueue(recorded('portrait-extract'));
    const out = await extractConcepts(ctx(), { image: { bytes: png }, caption: CAPTION });

    expect(chatRequests()).toBe(1);
    const body = sent(0);
    expect(body.model).toBe(MODEL);
    expect(body.temperature).toBe(0.1);
    expect(body.max_tokens).toBe(2048);
    expect(body.messages).toHaveLength(1);
    expect(body.messages[0].role).toBe('user');
    expect(imageOf(body.messages[0])).toBe(pngDataUrl);
    expect(textOf(body.messages[0])).toBe(extractorPrompt({ prompt: CAPTION }));
    expect(textOf(body.messages[0])).toContain(`<context> ${CAPTION} </context>`);
    expect(body.response_format).toEqual({
      type: 'json_schema',
      json_schema: { name: 'concept_graph', schema: toJsonSchema(ConceptGraphSchema), strict: true },
    });
    expect(server.requests[0].headers.authorization).toBe('Bearer test-key');

    expect(out.graph.source).toBe('vlm');
    expect(out.graph.graph).toEqual(portraitGraph());
    expect(out.graph.repairs).toEqual([]);
    expect(out.graph.issues).toEqual([]);
    expect(out.attempts).toHaveLength(1);
    expect(out.attempts[0]).toMatchObject({
      prompt: 'extract',
      model: MODEL,
      attempt: 1,
      error: null,
      usage: { promptTokens: 1418, completionTokens: 702, totalTokens: 2120 },
    });
  });

  it('accepts JSON wrapped in prose and a code fence, and notes it', async () => {
    server.enqueue(recorded('street-extract-prose'));
    const out = await extractConcepts(ctx(), { image: { bytes: png }, caption: 'A rainy street.' });
    expect(out.graph.graph.concepts.map((c) => c.name)).toContain('Road surface');
    expect(out.graph.graph.relationships).toHaveLength(6);
    expect(out.notes).toContain('JSON recovered from a code fence');
    expect(out.attempts.map((a) => a.error)).toEqual([null]);
  });

  it('re-asks after invalid JSON, stating the error, and records both attempts', async () => {
    server.enqueue(recorded('portrait-extract-invalid'), recorded('portrait-extract'));
    const out = await extractConcepts(ctx(), { image: { bytes: png }, caption: CAPTION });

    expect(out.graph.graph).toEqual(portraitGraph());
    expect(out.attempts.map((a) => a.attempt)).toEqual([1, 2]);
    expect(out.attempts[0].error).toMatch(/^the answer is not valid JSON/);
    expect(out.attempts[0].usage).toEqual({ promptTokens: 1418, completionTokens: 705, totalTokens: 2123 });
    expect(out.attempts[1].error).toBeNull();

    const second = sent(1);
    expect(second.temperature).toBe(0.1);
    expect(second.max_tokens).toBe(2048);
    expect(second.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user']);
    expect(second.messages[0]).toEqual(sent(0).messages[0]);
    expect(second.messages[1].content).toBe(recordedContent('portrait-extract-invalid'));
    expect(textOf(second.messages[2])).toContain(
      `Your previous answer could not be used: ${out.attempts[0].error}`,
    );
    expect(textOf(second.messages[2])).toContain('Return ONLY the corrected JSON object.');
  });

  it('names the field and value of a schema mismatch in the re-ask', async () => {
    const graph = portraitGraph();
    graph.concepts[1].current_value = '';
    server.enqueue({ body: chatCompletion(JSON.stringify(graph)) }, recorded('portrait-extract'));
    const out = await extractConcepts(ctx(), { image: { bytes: png }, caption: CAPTION });
    expect(out.attempts[0].error).toBe(
      'the JSON does not match the concept_graph schema: concepts[1].current_value: current_value must be a non-empty string (got "")',
    );
    expect(textOf(sent(1).messages[2])).toContain('concepts[1].current_value');
  });

  it('ends as a non-retryable VlmInvalidAnswer after 1 + maxValidationRetries invalid answers', async () => {
    server.enqueue(
      recorded('portrait-extract-invalid'),
      recorded('portrait-extract-invalid'),
      recorded('portrait-extract-invalid'),
    );
    const err = await failure(() => extractConcepts(ctx(), { image: { bytes: png }, caption: CAPTION }));
    expect(err.type).toBe('VlmInvalidAnswer');
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toMatch(
      /gave no valid 'extract' answer in 3 attempt\(s\); last problem: the answer is not valid JSON/,
    );
    expect(chatRequests()).toBe(3);
    const attempts = vlmFailureDetails(err)?.attempts ?? [];
    expect(attempts.map((a) => a.attempt)).toEqual([1, 2, 3]);
    expect(attempts.every((a) => a.error !== null && a.usage?.completionTokens === 705)).toBe(true);
  });

  it('repairs a cyclic graph by dropping the last-listed cycle edge, records it, and does not re-ask', async () => {
    server.enqueue(recorded('street-extract-cyclic'));
    const out = await extractConcepts(ctx(), { image: { bytes: png }, caption: 'A rainy street.' });
    expect(chatRequests()).toBe(1);
    expect(out.graph.original.relationships.map((r) => r.id)).toContain('r7');
    expect(out.graph.graph.relationships.map((r) => r.id)).toEqual(['r1', 'r2', 'r3', 'r4', 'r5', 'r6']);
    expect(out.graph.issues.map((i) => i.code)).toEqual(['cycle']);
    expect(out.graph.repairs).toEqual([
      expect.objectContaining({
        kind: 'removed_cycle_edge',
        relationship_id: 'r7',
        cycle: ['c6', 'c1', 'c2', 'c6'],
      }),
    ]);
    expect(out.notes.some((n) => n.includes('removed_cycle_edge r7'))).toBe(true);
  });

  it('re-asks when concept ids are duplicated (not repairable)', async () => {
    const graph = portraitGraph();
    graph.concepts[7].id = 'c1';
    server.enqueue({ body: chatCompletion(JSON.stringify(graph)) }, recorded('portrait-extract'));
    const out = await extractConcepts(ctx(), { image: { bytes: png }, caption: CAPTION });
    expect(out.attempts[0].error).toMatch(/^the graph is not usable: concept id 'c1' is used 2 times/);
    expect(out.graph.graph).toEqual(portraitGraph());
  });

  it('rejects an empty caption and an unreadable image as VlmInvalidInput without calling the server', async () => {
    const empty = await failure(() => extractConcepts(ctx(), { image: { bytes: png }, caption: '  ' }));
    expect(empty.type).toBe('VlmInvalidInput');
    expect(empty.nonRetryable).toBe(true);
    expect(empty.message).toMatch(/^caption: .*got an empty string/);

    const junk = new Uint8Array(Buffer.from('definitely not an image'));
    const bad = await failure(() =>
      extractConcepts(ctx(), { image: { bytes: junk, name: 'upload.png' }, caption: CAPTION }),
    );
    expect(bad.type).toBe('VlmInvalidInput');
    expect(bad.nonRetryable).toBe(true);
    expect(bad.message).toMatch(/^upload\.png: cannot decode the image \(23 bytes\)/);

    const truncated = png.slice(0, 60);
    const cut = await failure(() =>
      extractConcepts(ctx(), { image: { bytes: truncated }, caption: CAPTION }),
    );
    expect(cut.type).toBe('VlmInvalidInput');
    expect(chatRequests()).toBe(0);
  });

  it('re-encodes formats other than JPEG/PNG/WebP to PNG', async () => {
    const tiff = await sharp(png).tiff().toBuffer();
    server.enqueue(recorded('portrait-extract'));
    await extractConcepts(ctx(), { image: { bytes: tiff }, caption: CAPTION });
    const url = imageOf(sent(0).messages[0]) ?? '';
    expect(url.startsWith('data:image/png;base64,')).toBe(true);
    const meta = await sharp(Buffer.from(url.split(',')[1], 'base64')).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 64, 48]);
  });

  it('asks for JSON mode only, or no response_format, when configured for servers without json_schema', async () => {
    server.enqueue(recorded('portrait-extract'), recorded('portrait-extract'));
    await extractConcepts(ctx({ structuredOutput: 'json_object' }), {
      image: { bytes: png },
      caption: CAPTION,
    });
    await extractConcepts(ctx({ structuredOutput: 'none' }), { image: { bytes: png }, caption: CAPTION });
    expect(sent(0).response_format).toEqual({ type: 'json_object' });
    expect(sent(1).response_format).toBeUndefined();
  });
});

describe('transport failures are classified for Temporal', () => {
  const run = (c = ctx()) => extractConcepts(c, { image: { bytes: png }, caption: CAPTION });

  it('429 with Retry-After is retryable with nextRetryDelay, and the client does not retry by itself', async () => {
    server.enqueue(errorReply(429, 'Too many requests', { 'retry-after': '7' }));
    const err = await failure(() => run());
    expect(err.type).toBe('VlmRateLimited');
    expect(err.nonRetryable).toBe(false);
    expect(err.nextRetryDelay).toBe(7000);
    expect(err.message).toContain('retrying after 7000 ms (Retry-After)');
    expect(vlmFailureDetails(err)).toMatchObject({ status: 429, retryAfterMs: 7000 });
    expect(vlmFailureDetails(err)?.attempts[0]).toMatchObject({ attempt: 1, usage: null });
    expect(vlmFailureDetails(err)?.attempts[0].error).toMatch(/^HTTP 429/);
    expect(chatRequests()).toBe(1);
  });

  it('500 is a retryable VlmServerError after exactly one request', async () => {
    server.enqueue(errorReply(500, 'CUDA out of memory'));
    const err = await failure(() => run());
    expect(err.type).toBe('VlmServerError');
    expect(err.nonRetryable).toBe(false);
    expect(err.message).toContain('HTTP 500');
    expect(err.message).toContain('CUDA out of memory');
    expect(chatRequests()).toBe(1);
  });

  it('a slow answer past the timeout is a retryable VlmTimeout', async () => {
    server.enqueue({ ...recorded('portrait-extract'), delayMs: 3000 });
    const err = await failure(() => run(ctx({ timeoutMs: 300 })));
    expect(err.type).toBe('VlmTimeout');
    expect(err.nonRetryable).toBe(false);
    expect(err.message).toContain('did not answer within 300 ms');
    expect(chatRequests()).toBe(1);
  });

  it('a refused connection is a retryable VlmConnectionError', async () => {
    const other = await startFakeVlmServer();
    const deadURL = other.baseURL;
    await other.close();
    const err = await failure(() => run(ctx({ baseURL: deadURL })));
    expect(err.type).toBe('VlmConnectionError');
    expect(err.nonRetryable).toBe(false);
    expect(err.message).toContain(deadURL);
  });

  it('401 is a non-retryable VlmRequestRejected that points at the API key', async () => {
    server.enqueue(errorReply(401, 'Unauthorized'));
    const err = await failure(() => run());
    expect(err.type).toBe('VlmRequestRejected');
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toContain('CGM_VLM_API_KEY');
  });
});

describe('proposeInterventions (paper Fig. 3)', () => {
  const input = () => ({ image: { bytes: png }, graph: portraitGraph(), basePrompt: CAPTION });

  it('sends the Fig. 3 prompt for 3 interventions at temperature 0.2 with 3,072 tokens', async () => {
    server.enqueue(recorded('portrait-propose'));
    const out = await proposeInterventions(ctx(), input());

    const body = sent(0);
    expect(body.temperature).toBe(0.2);
    expect(body.max_tokens).toBe(3072);
    expect(imageOf(body.messages[0])).toBe(pngDataUrl);
    const expected = manipulatorPrompt({
      ...manipulatorParamsFromGraph(portraitGraph(), CAPTION),
      interventions: 3,
    });
    expect(textOf(body.messages[0])).toBe(expected);
    expect(expected).toContain('1. PROPOSE 3 DIVERSE MANIPULATIONS');
    expect(expected).toContain(`<reference_prompt> ${CAPTION} </reference_prompt>`);
    expect(body.response_format?.json_schema?.name).toBe('intervention_set');
    expect(body.response_format?.json_schema?.schema).toEqual(toJsonSchema(InterventionSetSchema));

    expect(out.interventions.map((r) => r.intervention)).toEqual(portraitInterventions().interventions);
    expect(out.interventions.map((r) => r.check.ok)).toEqual([true, true, true]);
    expect(out.interventions[0].check.descendants).toEqual(['c5', 'c6', 'c7']);
    expect(out.interventions.every((r) => r.source === 'vlm')).toBe(true);
    expect(out.attempts).toMatchObject([{ prompt: 'manipulate', attempt: 1, error: null }]);
  });

  it('re-asks when ids are unknown, naming them and the known ids', async () => {
    server.enqueue(recorded('portrait-propose-unknown-ids'), recorded('portrait-propose'));
    const out = await proposeInterventions(ctx(), input());
    const error = out.attempts[0].error ?? '';
    expect(error).toContain("target_concept_id 'c9' is not a concept of the graph");
    expect(error).toContain("propagated change of unknown concept id 'c12'");
    expect(error).toContain('Known concept ids: c1, c2, c3, c4, c5, c6, c7, c8.');
    expect(textOf(sent(1).messages[2])).toContain("target_concept_id 'c9'");
    expect(out.interventions.every((r) => r.check.ok)).toBe(true);
  });

  it('fails with VlmInvalidAnswer when the target stays unknown', async () => {
    server.enqueue(
      recorded('portrait-propose-unknown-ids'),
      recorded('portrait-propose-unknown-ids'),
      recorded('portrait-propose-unknown-ids'),
    );
    const err = await failure(() => proposeInterventions(ctx(), input()));
    expect(err.type).toBe('VlmInvalidAnswer');
    expect(err.message).toContain("'c9'");
  });

  it('re-asks on a change outside the descendants, then accepts and records it on the last attempt', async () => {
    server.enqueue(
      recorded('portrait-propose-non-descendant'),
      recorded('portrait-propose-non-descendant'),
      recorded('portrait-propose-non-descendant'),
    );
    const out = await proposeInterventions(ctx(), input());
    expect(chatRequests()).toBe(3);
    expect(out.attempts.map((a) => a.error === null)).toEqual([false, false, true]);
    expect(out.attempts[0].error).toContain(
      "concept 'c2' is changed but is not a descendant of the target 'c4'",
    );
    expect(textOf(sent(1).messages[2])).toContain('Only descendants of the target');
    const gender = out.interventions[0];
    expect(gender.check.ok).toBe(false);
    expect(gender.check.non_descendant_changes).toEqual(['c2']);
    expect(gender.check.violations.map((v) => v.code)).toEqual(['non_descendant_change']);
    expect(out.notes.some((n) => n.startsWith('accepted with graph violation:'))).toBe(true);
  });

  it('fails instead of accepting when acceptSoftViolations is false', async () => {
    server.enqueue(
      recorded('portrait-propose-non-descendant'),
      recorded('portrait-propose-non-descendant'),
      recorded('portrait-propose-non-descendant'),
    );
    const err = await failure(() => proposeInterventions(ctx(), input(), { acceptSoftViolations: false }));
    expect(err.type).toBe('VlmInvalidAnswer');
  });

  it('rejects a cyclic input graph and an empty base prompt as VlmInvalidInput', async () => {
    const cyclic = portraitGraph();
    cyclic.relationships.push({ id: 'r9', cause_id: 'c2', effect_id: 'c1', description: 'x' });
    const err = await failure(() => proposeInterventions(ctx(), { ...input(), graph: cyclic }));
    expect(err.type).toBe('VlmInvalidInput');
    expect(err.message).toMatch(/^graph: not a valid causal DAG: .*cycles/);
    const empty = await failure(() => proposeInterventions(ctx(), { ...input(), basePrompt: '' }));
    expect(empty.message).toMatch(/^basePrompt: expected a non-empty string/);
    expect(chatRequests()).toBe(0);
  });
});

describe('propagateIntervention (user-given do())', () => {
  it('sends our single-do() variant and returns the one intervention as the user’s', async () => {
    server.enqueue(recorded('portrait-propagate-age'));
    const graph = portraitGraph();
    const out = await propagateIntervention(ctx(), {
      image: { bytes: png },
      graph,
      basePrompt: CAPTION,
      concept: 'person AGE',
      value: 'elderly',
    });
    const body = sent(0);
    expect(body.temperature).toBe(0.2);
    expect(body.max_tokens).toBe(3072);
    const expected = userInterventionPrompt({
      ...manipulatorParamsFromGraph(graph, CAPTION),
      target_concept_id: 'c1',
      target_concept_name: 'Person age',
      original_value: 'young adult',
      new_value: 'elderly',
    });
    expect(textOf(body.messages[0])).toBe(expected);
    expect(expected).toContain('do(Person age = elderly)');
    expect(out.intervention.source).toBe('user');
    expect(out.intervention.intervention.target_concept_id).toBe('c1');
    expect(out.intervention.check).toMatchObject({ ok: true, descendants: ['c2', 'c3', 'c8'] });
    expect(out.attempts).toMatchObject([{ prompt: 'propagate', error: null }]);
  });

  it('re-asks when the answer targets another concept', async () => {
    server.enqueue(recorded('portrait-propose'), recorded('portrait-propagate-age'));
    const out = await propagateIntervention(ctx(), {
      image: { bytes: png },
      graph: portraitGraph(),
      basePrompt: CAPTION,
      concept: 'c1',
      value: 'elderly',
    });
    expect(out.attempts[0].error).toContain('expected exactly one intervention (the given do()), got 3');
    expect(out.attempts[0].error).toContain("target_concept_id must be 'c1' (the given do()), got 'c4'");
    expect(out.intervention.intervention.id).toBe('intervention_1');
  });

  it('rejects an unknown concept and a no-op value as VlmInvalidInput', async () => {
    const base = { image: { bytes: png }, graph: portraitGraph(), basePrompt: CAPTION };
    const unknown = await failure(() =>
      propagateIntervention(ctx(), { ...base, concept: 'Glasses', value: 'round glasses' }),
    );
    expect(unknown.type).toBe('VlmInvalidInput');
    expect(unknown.message).toMatch(
      /^concept: 'Glasses' is neither an id nor a name .* known: c1 \(Person age\)/,
    );
    const noop = await failure(() =>
      propagateIntervention(ctx(), { ...base, concept: 'c2', value: 'Blonde hair' }),
    );
    expect(noop.message).toContain('changes nothing');
    expect(chatRequests()).toBe(0);
  });
});

describe('judgeCounterfactual (paper Fig. 6)', () => {
  const gender = () => portraitInterventions().interventions[0];

  it('builds the checklist from the target and propagated changes and scores the answer', async () => {
    server.enqueue(recorded('portrait-judge-gender'));
    const out = await judgeCounterfactual(ctx(), {
      image: { bytes: png },
      intervention: gender(),
      graph: portraitGraph(),
      method: 'csg',
    });
    const body = sent(0);
    expect(body.temperature).toBe(0);
    expect(body.max_tokens).toBe(1024);
    expect(body.response_format?.json_schema?.schema).toEqual(toJsonSchema(JudgeVerdictSchema));
    const text = textOf(body.messages[0]);
    expect(text).toContain(' Gender: female → male\n');
    expect(text).toContain(
      '<checklist>\n• Gender: male person\n• Makeup: no makeup\n• Facial hair: short beard\n• Earrings: no earrings\n</checklist>',
    );
    expect(text).toContain(`<prompt> ${gender().generation_prompt} </prompt>`);
    expect(out.judge).toEqual({
      verdict: expect.objectContaining({ verdict: 'partial' }),
      checklistScore: 0.75,
    });
    expect(out.preservationScore).toBeNull();
    expect(out.attempts).toMatchObject([
      { prompt: 'judge', interventionId: 'intervention_1', method: 'csg' },
    ]);
  });

  it('leaves changes outside the descendants off the checklist', async () => {
    const withExtra = InterventionSetSchema.parse(
      JSON.parse(recordedContent('portrait-propose-non-descendant')),
    ).interventions[0];
    server.enqueue(recorded('portrait-judge-gender'));
    const out = await judgeCounterfactual(ctx(), {
      image: { bytes: png },
      intervention: withExtra,
      graph: portraitGraph(),
    });
    expect(out.checklist.map((i) => i.concept_id)).toEqual(['c4', 'c5', 'c6', 'c7']);
    expect(textOf(sent(0).messages[0])).not.toContain('Hair color');
  });

  it('beyond the paper: adds non-descendants as must-stay items, re-asks when they are unanswered, scores them apart', async () => {
    const full = {
      intervention_id: 'intervention_1',
      concept_checks: [
        { concept_name: 'Gender', expected_value: 'male person', present: 'yes' },
        { concept_name: 'Makeup', expected_value: 'no makeup', present: 'yes' },
        { concept_name: 'Facial hair', expected_value: 'short beard', present: 'yes' },
        { concept_name: 'Earrings', expected_value: 'no earrings', present: 'yes' },
        { concept_name: 'Person age', expected_value: 'young adult', present: 'yes' },
        { concept_name: 'Hair color', expected_value: 'blonde hair', present: 'no' },
        { concept_name: 'Skin texture', expected_value: 'smooth skin', present: 'yes' },
        { concept_name: 'Hair greyness', expected_value: 'no grey', present: 'yes' },
      ],
      verdict: 'partial',
      reasoning: 'The man has a beard but his hair turned brown.',
    };
    server.enqueue(recorded('portrait-judge-gender'), { body: chatCompletion(JSON.stringify(full)) });
    const out = await judgeCounterfactual(ctx(), {
      image: { bytes: png },
      intervention: gender(),
      graph: portraitGraph(),
      mustStay: true,
    });
    expect(textOf(sent(0).messages[0])).toContain(
      '• Earrings: no earrings\n• Person age: young adult\n• Hair color: blonde hair',
    );
    expect(out.attempts[0].error).toContain(
      'concept_checks has no answer for checklist item(s): Person age (expected young adult)',
    );
    expect(out.judge.checklistScore).toBe(1);
    expect(out.preservationScore).toBe(0.75);
    expect(out.checklist.filter((i) => i.role === 'unchanged').map((i) => i.concept_id)).toEqual([
      'c1',
      'c2',
      'c3',
      'c8',
    ]);
  });
});

describe('describeScene (paper §5.1 step 1)', () => {
  it('asks for free text without response_format and cleans the caption', async () => {
    server.enqueue(recorded('street-describe'));
    const out = await describeScene(ctx(), { image: { bytes: png } });
    const body = sent(0);
    expect(body.response_format).toBeUndefined();
    expect(body.temperature).toBe(0.2);
    expect(body.max_tokens).toBe(256);
    expect(textOf(body.messages[0])).toBe(sceneDescriptionPrompt());
    expect(imageOf(body.messages[0])).toBe(pngDataUrl);
    expect(out.text.startsWith('A rainy city street in the evening')).toBe(true);
    expect(out.text.endsWith('Photograph.')).toBe(true);
    expect(out.attempts).toMatchObject([{ prompt: 'describe', error: null }]);
  });
});

describe('createVlmActivities', () => {
  const ref = {
    bucket: 'cgm',
    key: 'images/abc',
    sha256: 'a'.repeat(64),
    bytes: 10,
    contentType: 'image/png',
  };

  it('loads the image from the store and sends it as a data URL', async () => {
    const acts = createVlmActivities({
      settings: { baseURL: server.baseURL, model: MODEL },
      store: { get: async () => png, presignGet: async () => 'http://unused' },
    });
    server.enqueue(recorded('portrait-extract'));
    const out = await acts.extractConcepts({ image: ref, caption: CAPTION });
    expect(imageOf(sent(0).messages[0])).toBe(pngDataUrl);
    expect(out.graph.graph.concepts).toHaveLength(8);
  });

  it('sends a presigned URL when imageTransport is presigned-url', async () => {
    const acts = createVlmActivities({
      settings: { baseURL: server.baseURL, model: MODEL, imageTransport: 'presigned-url' },
      store: {
        get: async () => {
          throw new Error('must not download');
        },
        presignGet: async (r) => `http://127.0.0.1:9000/${r.bucket}/${r.key}?X-Amz-Signature=x`,
      },
    });
    server.enqueue(recorded('street-describe'));
    await acts.describeScene({ image: ref });
    expect(imageOf(sent(0).messages[0])).toBe('http://127.0.0.1:9000/cgm/images/abc?X-Amz-Signature=x');
  });

  it('turns a missing image into a non-retryable VlmInvalidInput', async () => {
    const acts = createVlmActivities({
      settings: { baseURL: server.baseURL, model: MODEL },
      store: {
        get: async (r) => {
          throw new ArtifactNotFoundError(r.bucket, r.key);
        },
        presignGet: async () => 'http://unused',
      },
    });
    const err = await failure(() => acts.describeScene({ image: ref }));
    expect(err.type).toBe('VlmInvalidInput');
    expect(err.message).toContain('s3://cgm/images/abc does not exist');
  });

  it('refuses bad settings at construction, naming the field', () => {
    expect(() =>
      createVlmActivities({
        settings: { baseURL: server.baseURL, model: MODEL, calls: { extract: { temperature: 3 } } },
        store: { get: async () => png, presignGet: async () => '' },
      }),
    ).toThrow('calls.extract.temperature must be in [0, 2], got 3');
  });
});
