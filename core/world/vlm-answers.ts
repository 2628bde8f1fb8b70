// The "world VLM": answers every prompt the workflow sends to its VLM (core/prompts: scene description,
// Fig. 2 concept extraction, Fig. 3 manipulation, our do() propagation, Fig. 6 judge) for images of the
// procedural street world, from what a reader (the ONNX oracle, or an injected stand-in) sees in the
// image and from the world's SCM (world/scm.json). Pure apart from the injected reader and image
// fetcher: a chat-completions request body in, the assistant's answer text out; the HTTP server around
// it is core/world/vlm-server.ts.
//
// Prompts are recognised by their content, as any server sees them: the text of the first user message
// must be one of the project's prompt templates (built by the same functions in core/prompts, so a
// wording change there is followed here) with its slots filled. Anything else is a 400.
//
// Answers:
// - describe: caption(scm, seen) (core/world/caption.ts, template 0 of captions.py).
// - extract: worldConceptGraph(scm, seen), concepts c1..c9 with the phrases of the values seen.
// - manipulate: as Fig. 3 asks, among the roots ranked by descendant count (as world/cgm_world/dataset.py),
//   one with many descendants (season), one with few (time_of_day), one with none (car_color); then, if
//   more are asked for, the other attributes in scm.json order. The new value is the data set's own
//   do() of that attribute when the image is a known data set scene (so its true counterfactual image
//   exists and a batch can be scored against it), else one of the other values chosen by
//   sha256(image sha256, attribute id). Each is propagated by the SCM (abduction.ts).
// - propagate: the user's do(): the target concept is mapped to an attribute by its attribute id, name or
//   a value phrase (the prompt graph's concept of that id first), the value by value id or phrase,
//   case-insensitively. An unknown concept or value is the client's error: HTTP 400 with code
//   unknown_concept / unknown_value and a message naming it and the allowed ones (the workflow then fails
//   with requestRejected, naming the cause, instead of re-asking a model that cannot do better).
// - judge: per checklist item "yes" iff the reader sees the expected value (concept name → attribute as
//   above, or the attribute whose value phrase the expected value is); the verdict by Fig. 6's rule:
//   success if every item is "yes"; failure if the main changed concept (the item named like the prompt's
//   changed concept, else the first) is "no" or most items are "no"; partial otherwise (a tie included).
// Noise U for propagation: the scene's exact U when the image is a known data set scene (sceneNoise),
// else abduced from the attributes seen (midpoints of the consistent intervals, abduction.ts).
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { sceneDescriptionPrompt } from '../prompts/describe.js';
import { extractorPrompt } from '../prompts/extractor.js';
import { judgePrompt, renderChecklist } from '../prompts/judge.js';
import { manipulatorPrompt, userInterventionPrompt } from '../prompts/manipulator.js';
import {
  type ConceptCheck,
  ConceptGraphSchema,
  type Intervention,
  InterventionSetSchema,
  type JudgeVerdict,
  JudgeVerdictSchema,
  type Verdict,
} from '../schemas/paper.js';
import { abduceNoise, propagateDo } from './abduction.js';
import { caption } from './caption.js';
import {
  checkAttributes,
  descendants,
  type WorldAttribute,
  type WorldAttributes,
  type WorldNoise,
  type WorldScm,
  worldConceptGraph,
} from './scm.js';

export const WORLD_PROMPT_KINDS = ['describe', 'extract', 'manipulate', 'propagate', 'judge'] as const;
export type WorldPromptKind = (typeof WORLD_PROMPT_KINDS)[number];

/** A request the world VLM cannot answer; becomes an OpenAI-style error body with this status. */
export class WorldVlmError extends Error {
  constructor(
    message: string,
    readonly status: 400 | 500 = 400,
    readonly code: string = 'invalid_request',
    readonly param: string | null = null,
  ) {
    super(message);
    this.name = 'WorldVlmError';
  }
}

/** One attribute as read off an image (WorldOracle's AttributeReading fits). */
export interface WorldAttributeReading {
  readonly value: string;
  readonly probability?: number;
}
export type WorldReading = Readonly<Record<string, WorldAttributeReading>>;

/** Reads every attribute off images (PNG/JPEG/WebP bytes); WorldOracle satisfies it. */
export interface WorldReader {
  read(images: readonly Uint8Array[]): Promise<readonly WorldReading[]>;
}

/** A data set scene recognised by its image's sha256, with its true noise. */
export interface KnownScene {
  readonly sceneId: string;
  readonly noise: WorldNoise;
  /** The data set's interventions of the scene: attribute → the value its do() sets. */
  readonly doValues?: Readonly<Record<string, string>>;
}

export interface WorldVlmDeps {
  scm: WorldScm;
  reader: WorldReader;
  /** sha256 (hex) of an image's bytes → the data set scene it is, if any (`--dataset`). */
  sceneNoise?: (imageSha256: string) => KnownScene | undefined;
  /** Fetches http(s) image URLs (presigned S3); without it such URLs are refused with a 400. */
  fetchImage?: (url: string) => Promise<Uint8Array>;
}

export interface WorldVlmAnswer {
  kind: WorldPromptKind;
  /** The assistant message content: plain text (describe) or JSON text. */
  content: string;
  /** sha256 of the image the answer is about. */
  imageSha256: string;
  /** The data set scene whose exact noise was used (manipulate/propagate), if any. */
  sceneId?: string;
  /** For the log: abduced-noise inconsistencies, judge items that map to nothing, … */
  notes: string[];
}

// ---- recognising the prompts by their content -------------------------------------------------------

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * A template's text with slot sentinels → an anchored regex: literal text escaped, the first occurrence
 * of a slot a named group, later occurrences (e.g. JSON-quoted copies) anything.
 */
function templateRegex(text: string, slots: Record<string, { name: string; pattern?: string }>): RegExp {
  const sentinels = Object.keys(slots);
  let out = '^';
  let last = 0;
  const used = new Set<string>();
  if (sentinels.length > 0) {
    for (const m of text.matchAll(new RegExp(sentinels.map(escapeRe).join('|'), 'g'))) {
      out += escapeRe(text.slice(last, m.index));
      const slot = slots[m[0]];
      const pattern = slot.pattern ?? '[\\s\\S]*?';
      out += used.has(slot.name) ? `(?:${pattern})` : `(?<${slot.name}>${pattern})`;
      used.add(slot.name);
      last = m.index + m[0].length;
    }
  }
  return new RegExp(`${out}${escapeRe(text.slice(last))}$`);
}

const S = (name: string) => `@@${name}@@`;
const slotsOf = (...names: string[]) => Object.fromEntries(names.map((name) => [S(name), { name }]));
const COUNT_SENTINEL = 987654321;

interface Templates {
  describe: RegExp;
  extract: RegExp;
  manipulate: RegExp;
  propagate: RegExp;
  judge: RegExp;
}
let templates: Templates | undefined;

function promptTemplates(): Templates {
  if (templates) return templates;
  const graphSlots = slotsOf('scene_summary', 'concepts', 'relationships', 'base_prompt');
  const graphParams = {
    scene_summary: S('scene_summary'),
    concepts_json: S('concepts'),
    relationships_json: S('relationships'),
    base_prompt: S('base_prompt'),
  };
  const checklistItem = [{ concept_name: S('item_name'), expected_value: S('item_value') }];
  const judgeText = judgePrompt4Template(checklistItem);
  templates = {
    describe: templateRegex(sceneDescriptionPrompt(), {}),
    extract: templateRegex(extractorPrompt({ prompt: S('context') }), slotsOf('context')),
    manipulate: templateRegex(manipulatorPrompt({ ...graphParams, interventions: COUNT_SENTINEL }), {
      ...graphSlots,
      [String(COUNT_SENTINEL)]: { name: 'count', pattern: '\\d+' },
    }),
    propagate: templateRegex(
      userInterventionPrompt({
        ...graphParams,
        target_concept_id: S('target_id'),
        target_concept_name: S('target_name'),
        original_value: S('original_value'),
        new_value: S('new_value'),
      }),
      { ...graphSlots, ...slotsOf('target_id', 'target_name', 'original_value', 'new_value') },
    ),
    judge: templateRegex(
      judgeText.replace(renderChecklist(checklistItem), S('checklist')),
      slotsOf('generation_prompt', 'target_name', 'original_value', 'new_value', 'checklist'),
    ),
  };
  return templates;
}

function judgePrompt4Template(checklist: { concept_name: string; expected_value: string }[]): string {
  return judgePrompt({
    generation_prompt: S('generation_prompt'),
    target_concept_name: S('target_name'),
    original_value: S('original_value'),
    new_value: S('new_value'),
    checklist,
  });
}

export type RecognisedPrompt =
  | { kind: 'describe' }
  | { kind: 'extract'; context: string }
  | { kind: 'manipulate'; graph: PromptGraph; basePrompt: string; count: number }
  | {
      kind: 'propagate';
      graph: PromptGraph;
      basePrompt: string;
      target: { id: string; name: string; originalValue: string; newValue: string };
    }
  | {
      kind: 'judge';
      generationPrompt: string;
      target: { name: string; originalValue: string; newValue: string };
      checklist: { concept_name: string; expected_value: string }[];
    };

export interface PromptGraph {
  sceneSummary: string;
  concepts: { id: string; name: string; current_value: string }[];
}

const PromptConceptsSchema = z.array(
  z.object({ id: z.string().min(1), name: z.string(), current_value: z.string() }).loose(),
);

function promptGraph(groups: Record<string, string>): PromptGraph {
  let raw: unknown;
  try {
    raw = JSON.parse(groups.concepts);
  } catch (err) {
    throw new WorldVlmError(
      `the <concepts> block of the manipulator prompt is not valid JSON (${(err as Error).message})`,
      400,
      'invalid_prompt',
      'messages',
    );
  }
  const parsed = PromptConceptsSchema.safeParse(raw);
  if (!parsed.success)
    throw new WorldVlmError(
      'the <concepts> block of the manipulator prompt is not a JSON array of concepts with id, name and current_value',
      400,
      'invalid_prompt',
      'messages',
    );
  return { sceneSummary: groups.scene_summary, concepts: parsed.data };
}

/** "• name: value" lines (core/prompts/judge.ts renderChecklist); the name ends at the first ": ". */
function parseChecklist(block: string): { concept_name: string; expected_value: string }[] {
  if (block.trim() === '') return [];
  return block.split('\n').map((line) => {
    const m = /^• (.*?): (.*)$/.exec(line);
    if (!m)
      throw new WorldVlmError(
        `judge prompt: checklist line '${line.slice(0, 80)}' is not of the form '• concept name: expected value'`,
        400,
        'invalid_prompt',
        'messages',
      );
    return { concept_name: m[1], expected_value: m[2] };
  });
}

/** Which of the project's prompts `text` is, with its slots; null for anything else. */
export function recognisePrompt(text: string): RecognisedPrompt | null {
  const t = text.replace(/\r\n/g, '\n').trim();
  const tp = promptTemplates();
  if (tp.describe.test(t)) return { kind: 'describe' };
  let g = tp.extract.exec(t)?.groups;
  if (g) return { kind: 'extract', context: g.context.trim() };
  g = tp.manipulate.exec(t)?.groups;
  if (g)
    return { kind: 'manipulate', graph: promptGraph(g), basePrompt: g.base_prompt, count: Number(g.count) };
  g = tp.propagate.exec(t)?.groups;
  if (g)
    return {
      kind: 'propagate',
      graph: promptGraph(g),
      basePrompt: g.base_prompt,
      target: {
        id: g.target_id,
        name: g.target_name,
        originalValue: g.original_value,
        newValue: g.new_value,
      },
    };
  g = tp.judge.exec(t)?.groups;
  if (g)
    return {
      kind: 'judge',
      generationPrompt: g.generation_prompt,
      target: { name: g.target_name, originalValue: g.original_value, newValue: g.new_value },
      checklist: parseChecklist(g.checklist),
    };
  return null;
}

// ---- the request ------------------------------------------------------------------------------------

type Part = { type?: unknown; text?: unknown; image_url?: unknown };

const bad = (message: string, param: string | null = null, code = 'invalid_request') =>
  new WorldVlmError(message, 400, code, param);

/** The text and the image URL of the first user message (later messages are re-asks of the same prompt). */
function userPrompt(body: Record<string, unknown>): { text: string; imageUrl?: string } {
  const messages = body.messages;
  if (!Array.isArray(messages) || messages.length === 0)
    throw bad('messages: expected a non-empty array of chat messages', 'messages');
  const first = messages.find(
    (m): m is { role: string; content: unknown } =>
      typeof m === 'object' && m !== null && (m as { role?: unknown }).role === 'user',
  );
  if (!first) throw bad('messages: no message with role "user"', 'messages');
  const { content } = first;
  if (typeof content === 'string') return { text: content };
  if (!Array.isArray(content))
    throw bad('messages[].content: expected a string or an array of content parts', 'messages');
  const texts: string[] = [];
  let imageUrl: string | undefined;
  for (const part of content as Part[]) {
    if (part?.type === 'text' && typeof part.text === 'string') texts.push(part.text);
    else if (part?.type === 'image_url') {
      const url =
        typeof part.image_url === 'string' ? part.image_url : (part.image_url as { url?: unknown })?.url;
      if (typeof url !== 'string') throw bad('image_url: expected {"url": "..."}', 'messages');
      imageUrl ??= url;
    } else
      throw bad(
        `messages[].content: unsupported content part type ${JSON.stringify(part?.type)}; expected text or image_url`,
        'messages',
      );
  }
  return { text: texts.join('\n'), imageUrl };
}

/** Top-level keys of each JSON answer, to check a requested json_schema against. */
const ANSWER_KEYS: Record<Exclude<WorldPromptKind, 'describe'>, string[]> = {
  extract: Object.keys(ConceptGraphSchema.shape),
  manipulate: Object.keys(InterventionSetSchema.shape),
  propagate: Object.keys(InterventionSetSchema.shape),
  judge: Object.keys(JudgeVerdictSchema.shape),
};

const KIND_LABEL: Record<WorldPromptKind, string> = {
  describe: 'scene-description prompt',
  extract: 'concept extractor prompt (Fig. 2)',
  manipulate: 'concept manipulator prompt (Fig. 3)',
  propagate: 'do() propagation prompt',
  judge: 'effectiveness judge prompt (Fig. 6)',
};

/** The answer must fit response_format: text for the caption, JSON (and the schema's keys) for the rest. */
function checkResponseFormat(kind: WorldPromptKind, rf: unknown): void {
  if (rf === undefined || rf === null) return;
  const type = (rf as { type?: unknown }).type;
  if (type === 'text') return;
  if (type !== 'json_object' && type !== 'json_schema')
    throw bad(
      `response_format.type ${JSON.stringify(type)} is not supported; expected text, json_object or json_schema`,
      'response_format',
    );
  if (kind === 'describe')
    throw bad(
      `response_format: the ${KIND_LABEL.describe} asks for a plain-text caption, but response_format asks for JSON (${type})`,
      'response_format',
    );
  if (type === 'json_object') return;
  const js = (rf as { json_schema?: { name?: unknown; schema?: unknown } }).json_schema;
  const schema = js?.schema as
    | {
        type?: unknown;
        properties?: Record<string, unknown>;
        required?: unknown;
        additionalProperties?: unknown;
      }
    | undefined;
  if (!schema || typeof schema !== 'object') return;
  const keys = ANSWER_KEYS[kind];
  const required = Array.isArray(schema.required) ? (schema.required as string[]) : [];
  const missing = required.filter((k) => !keys.includes(k));
  const closed = schema.additionalProperties === false && schema.properties;
  const extra = closed ? keys.filter((k) => !Object.hasOwn(schema.properties!, k)) : [];
  if ((schema.type !== undefined && schema.type !== 'object') || missing.length > 0 || extra.length > 0)
    throw bad(
      `response_format.json_schema '${String(js?.name ?? '')}' does not fit the ${KIND_LABEL[kind]}: its answer is an object with ${keys.join(', ')}` +
        (missing.length > 0 ? `; the schema requires ${missing.join(', ')}` : '') +
        (extra.length > 0 ? `; the schema does not allow ${extra.join(', ')}` : ''),
      'response_format',
    );
}

const MAGIC: [string, (b: Uint8Array) => boolean][] = [
  ['png', (b) => b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47],
  ['jpeg', (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff],
  [
    'webp',
    (b) =>
      Buffer.from(b.subarray(0, 4)).toString('latin1') === 'RIFF' &&
      Buffer.from(b.subarray(8, 12)).toString('latin1') === 'WEBP',
  ],
];

async function imageBytes(
  url: string | undefined,
  kind: WorldPromptKind,
  deps: WorldVlmDeps,
): Promise<Uint8Array> {
  if (url === undefined)
    throw bad(
      `the ${KIND_LABEL[kind]} needs an image, but the user message has no image_url part`,
      'messages',
    );
  let bytes: Uint8Array;
  const data = /^data:([^;,]*)((?:;[^;,]*)*),(.*)$/s.exec(url);
  if (data) {
    if (!data[2].split(';').includes('base64'))
      throw bad('image_url: only base64 data URLs are supported (data:image/png;base64,…)', 'messages');
    bytes = Buffer.from(data[3], 'base64');
  } else if (/^https?:\/\//.test(url)) {
    if (!deps.fetchImage)
      throw bad('image_url: http(s) image URLs are not supported by this server', 'messages');
    try {
      bytes = await deps.fetchImage(url);
    } catch (err) {
      throw bad(`image_url: cannot fetch ${url.split('?')[0]}: ${(err as Error).message}`, 'messages');
    }
  } else throw bad(`image_url: expected a data: or http(s) URL, got '${url.slice(0, 40)}'`, 'messages');
  if (bytes.byteLength < 12 || !MAGIC.some(([, is]) => is(bytes)))
    throw bad(`image_url: the image (${bytes.byteLength} bytes) is not a PNG, JPEG or WebP file`, 'messages');
  return bytes;
}

const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest('hex');

async function seen(scm: WorldScm, reader: WorldReader, bytes: Uint8Array): Promise<WorldAttributes> {
  let reading: WorldReading | undefined;
  try {
    [reading] = await reader.read([bytes]);
  } catch (err) {
    throw new WorldVlmError(`the image reader failed: ${(err as Error).message}`, 500, 'reader_error');
  }
  const attributes = Object.fromEntries(scm.attributes.map((a) => [a.id, reading?.[a.id]?.value as string]));
  try {
    checkAttributes(scm, attributes);
  } catch (err) {
    throw new WorldVlmError(
      `the image reader gave an unusable reading: ${(err as Error).message}`,
      500,
      'reader_error',
    );
  }
  return attributes;
}

/**
 * Answers one chat-completions request body. Throws WorldVlmError (400: the request is not something
 * this server understands; 500: the reader failed) — the server turns it into an OpenAI error body.
 */
export async function answerChatRequest(body: unknown, deps: WorldVlmDeps): Promise<WorldVlmAnswer> {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw bad('the request body must be a JSON object (a chat-completions request)');
  const req = body as Record<string, unknown>;
  if (typeof req.model !== 'string' || req.model.trim() === '')
    throw bad('model: expected the served model name (a non-empty string)', 'model');
  if (req.stream === true)
    throw bad('stream: streaming is not supported by this server; send stream false', 'stream');
  if (req.n !== undefined && req.n !== null && req.n !== 1)
    throw bad(`n: only one choice per request is supported, got ${JSON.stringify(req.n)}`, 'n');
  const { text, imageUrl } = userPrompt(req);
  const prompt = recognisePrompt(text);
  if (!prompt) {
    const start = text.replace(/\s+/g, ' ').trim().slice(0, 80);
    throw bad(
      `unrecognised prompt: the first user message is none of the prompts this world VLM answers (${WORLD_PROMPT_KINDS.join(', ')}); it starts with '${start}'`,
      'messages',
      'unrecognised_prompt',
    );
  }
  checkResponseFormat(prompt.kind, req.response_format);
  const bytes = await imageBytes(imageUrl, prompt.kind, deps);
  const imageSha256 = sha256(bytes);
  const observed = await seen(deps.scm, deps.reader, bytes);
  const notes: string[] = [];
  const answer = (content: string, sceneId?: string): WorldVlmAnswer => ({
    kind: prompt.kind,
    content,
    imageSha256,
    ...(sceneId ? { sceneId } : {}),
    notes,
  });
  const { scm } = deps;
  switch (prompt.kind) {
    case 'describe':
      return answer(caption(scm, observed));
    case 'extract':
      return answer(JSON.stringify(worldConceptGraph(scm, observed), null, 2));
    case 'manipulate':
    case 'propagate': {
      const known = deps.sceneNoise?.(imageSha256);
      const noise = known?.noise ?? abducedNoise(scm, observed, notes);
      const index = indexConcepts(scm, prompt.graph);
      const interventions =
        prompt.kind === 'manipulate'
          ? proposals(scm, index, observed, noise, prompt.count, imageSha256, known?.doValues)
          : [userIntervention(scm, index, observed, noise, prompt.target)];
      return answer(JSON.stringify(InterventionSetSchema.parse({ interventions }), null, 2), known?.sceneId);
    }
    case 'judge':
      return answer(JSON.stringify(JudgeVerdictSchema.parse(judge(scm, observed, prompt, notes)), null, 2));
  }
}

function abducedNoise(scm: WorldScm, observed: WorldAttributes, notes: string[]): WorldNoise {
  const a = abduceNoise(scm, observed);
  if (a.inconsistent.length > 0)
    notes.push(`observation impossible under the SCM for ${a.inconsistent.join(', ')}; their noise u = 0.5`);
  return a.noise;
}

// ---- concepts and values ----------------------------------------------------------------------------

const norm = (s: string) =>
  s
    .trim()
    .toLowerCase()
    .replace(/[\s_-]+/g, ' ');

/** The attribute a concept name stands for: its id, its name, or (unambiguously) one of its value phrases. */
export function attributeForConcept(scm: WorldScm, text: string): WorldAttribute | undefined {
  const t = norm(text);
  const direct = scm.attributes.find((a) => norm(a.id) === t || norm(a.name) === t);
  if (direct) return direct;
  const byPhrase = scm.attributes.filter((a) => Object.values(a.phrases).some((p) => norm(p) === t));
  return byPhrase.length === 1 ? byPhrase[0] : undefined;
}

/** The value a text stands for: the value itself or its phrase ("winter" or "winter season"). */
export function valueForText(a: WorldAttribute, text: string): string | undefined {
  const t = norm(text);
  return a.values.find((v) => norm(v) === t || norm(a.phrases[v]) === t);
}

interface ConceptIndex {
  /** Attribute id → the prompt graph's concept for it. */
  byAttribute: Map<string, { id: string; name: string }>;
  /** Concept id → attribute. */
  byConcept: Map<string, WorldAttribute>;
}

/** The prompt graph's concepts mapped to attributes by name, else by current value phrase. */
function indexConcepts(scm: WorldScm, graph: PromptGraph): ConceptIndex {
  const byAttribute = new Map<string, { id: string; name: string }>();
  const byConcept = new Map<string, WorldAttribute>();
  for (const c of graph.concepts) {
    const a = attributeForConcept(scm, c.name) ?? attributeForConcept(scm, c.current_value);
    if (!a || byAttribute.has(a.id) || byConcept.has(c.id)) continue;
    byAttribute.set(a.id, { id: c.id, name: c.name });
    byConcept.set(c.id, a);
  }
  return { byAttribute, byConcept };
}

const phraseOf = (scm: WorldScm, id: string, value: string) =>
  scm.attributes.find((a) => a.id === id)!.phrases[value];

/** Fig. 3's one root with many descendants, one with few, one with none (dataset.py), then the rest. */
export function manipulationTargets(scm: WorldScm): string[] {
  const de = (id: string) => descendants(scm, id).length;
  const roots = scm.attributes.filter((a) => a.parents.length === 0).map((a) => a.id);
  const ranked = [...roots].sort((x, y) => de(y) - de(x)); // stable: file order among equals
  const picks: string[] = [];
  if (ranked.length > 0) picks.push(ranked[0]);
  const few = [...ranked].reverse().find((r) => de(r) > 0 && !picks.includes(r));
  if (few) picks.push(few);
  const none =
    ranked.find((r) => de(r) === 0 && !picks.includes(r)) ??
    scm.attributes.find((a) => de(a.id) === 0 && !picks.includes(a.id))?.id;
  if (none) picks.push(none);
  return [...picks, ...scm.attributes.map((a) => a.id).filter((id) => !picks.includes(id))];
}

/** A deterministic other value of `id`, chosen by the image and the attribute. */
export function chooseNewValue(scm: WorldScm, id: string, current: string, imageSha256: string): string {
  const a = scm.attributes.find((x) => x.id === id)!;
  const others = a.values.filter((v) => v !== current);
  if (others.length === 0) return current;
  const h = createHash('sha256').update(`${imageSha256}\u0000${id}`).digest();
  return others[h.readUInt32BE(0) % others.length];
}

function proposals(
  scm: WorldScm,
  index: ConceptIndex,
  observed: WorldAttributes,
  noise: WorldNoise,
  count: number,
  imageSha256: string,
  doValues: Readonly<Record<string, string>> = {},
): Intervention[] {
  const targets = manipulationTargets(scm)
    .filter((id) => index.byAttribute.has(id))
    .filter((id) => scm.attributes.find((a) => a.id === id)!.values.length > 1)
    .slice(0, Math.max(1, count));
  if (targets.length === 0)
    throw bad(
      'manipulator prompt: none of its concepts is an attribute of the street world (by name or value phrase), so there is nothing to change',
      'messages',
      'unknown_concept',
    );
  return targets.map((id, i) =>
    intervention(scm, index, observed, noise, {
      id: `intervention_${i + 1}`,
      attribute: id,
      value:
        doValues[id] !== undefined && doValues[id] !== observed[id]
          ? doValues[id]
          : chooseNewValue(scm, id, observed[id], imageSha256),
      concept: index.byAttribute.get(id)!,
    }),
  );
}

function userIntervention(
  scm: WorldScm,
  index: ConceptIndex,
  observed: WorldAttributes,
  noise: WorldNoise,
  target: { id: string; name: string; originalValue: string; newValue: string },
): Intervention {
  const a = index.byConcept.get(target.id) ?? attributeForConcept(scm, target.name);
  const shown = `do(${target.name} = ${target.newValue})`;
  if (!a) {
    const known = scm.attributes.map((x) => `${x.id} (${x.name})`).join(', ');
    throw bad(
      `${shown}: the concept '${target.name}' (id ${target.id}) is not an attribute of the street world; expected an attribute id, name or value phrase of: ${known}`,
      'messages',
      'unknown_concept',
    );
  }
  const value = valueForText(a, target.newValue);
  if (value === undefined) {
    const allowed = a.values.map((v) => `${v} ("${a.phrases[v]}")`).join(', ');
    throw bad(
      `${shown}: '${target.newValue}' is not a value of ${a.id} (${a.name}); expected one of ${allowed}`,
      'messages',
      'unknown_value',
    );
  }
  return intervention(scm, index, observed, noise, {
    id: 'intervention_1',
    attribute: a.id,
    value,
    concept: { id: target.id, name: target.name },
  });
}

/** One Fig. 3 intervention: do(attribute = value) propagated by the SCM. */
function intervention(
  scm: WorldScm,
  index: ConceptIndex,
  observed: WorldAttributes,
  noise: WorldNoise,
  t: { id: string; attribute: string; value: string; concept: { id: string; name: string } },
): Intervention {
  const { attributes: after, changed } = propagateDo(scm, observed, noise, { [t.attribute]: t.value });
  const a = scm.attributes.find((x) => x.id === t.attribute)!;
  const conceptOf = (id: string) => (id === t.attribute ? t.concept : index.byAttribute.get(id));
  const effects = changed.filter((id) => id !== t.attribute && conceptOf(id) !== undefined);
  const propagated_changes = effects.map((id) => ({
    concept_id: conceptOf(id)!.id,
    concept_name: conceptOf(id)!.name,
    original_value: phraseOf(scm, id, observed[id]),
    new_value: phraseOf(scm, id, after[id]),
    reason: reasonFor(scm, id, observed, after),
  }));
  const final_concept_states = Object.fromEntries([
    [t.concept.id, a.phrases[t.value]],
    ...effects.map((id) => [conceptOf(id)!.id, phraseOf(scm, id, after[id])]),
  ]);
  const others = effects.length;
  return {
    id: t.id,
    target_concept_id: t.concept.id,
    target_concept_name: t.concept.name,
    intervention_description: `Change the ${a.name} from "${a.phrases[observed[t.attribute]]}" to "${a.phrases[t.value]}", do(${a.id} = ${t.value}); ${others === 0 ? 'no other concept depends on it' : `${others} other concept${others === 1 ? ' changes' : 's change'} as a consequence`}.`,
    original_value: a.phrases[observed[t.attribute]],
    new_value: a.phrases[t.value],
    propagated_changes,
    final_concept_states,
    generation_prompt: caption(scm, after),
  };
}

/** Why a descendant changed: the SCM edges from its changed parents, and what they changed to. */
function reasonFor(scm: WorldScm, id: string, before: WorldAttributes, after: WorldAttributes): string {
  const a = scm.attributes.find((x) => x.id === id)!;
  const moved = a.parents.filter((p) => before[p] !== after[p]);
  const name = (p: string) => scm.attributes.find((x) => x.id === p)!.name;
  const edges = moved.map((p) => `${name(p)} → ${a.name}`).join(', ');
  const now = moved.map((p) => `${name(p)} is now "${phraseOf(scm, p, after[p])}"`).join(' and ');
  return `${edges} (${a.description}): ${now}, so "${a.phrases[before[id]]}" becomes "${a.phrases[after[id]]}".`;
}

// ---- the judge --------------------------------------------------------------------------------------

/** Fig. 6's rule: all yes → success; the main item "no" or most items "no" → failure; else partial. */
export function verdictFor(checks: readonly { present: 'yes' | 'no' }[], mainIndex: number): Verdict {
  const yes = checks.filter((c) => c.present === 'yes').length;
  const no = checks.length - yes;
  if (checks.length > 0 && no === 0) return 'success';
  if (checks.length === 0 || checks[mainIndex]?.present === 'no' || no > yes) return 'failure';
  return 'partial';
}

function judge(
  scm: WorldScm,
  observed: WorldAttributes,
  prompt: Extract<RecognisedPrompt, { kind: 'judge' }>,
  notes: string[],
): JudgeVerdict {
  const misses: string[] = [];
  const checks: ConceptCheck[] = prompt.checklist.map((item) => {
    let a = attributeForConcept(scm, item.concept_name);
    let value = a ? valueForText(a, item.expected_value) : undefined;
    if (value === undefined) {
      // The concept name may be unknown while the expected value is a phrase only one attribute has.
      const other = attributeForConcept(scm, item.expected_value);
      const v = other ? valueForText(other, item.expected_value) : undefined;
      if (other && v !== undefined && (!a || a.id === other.id)) [a, value] = [other, v];
    }
    if (!a || value === undefined) {
      const why = a
        ? `'${item.expected_value}' is not a value of ${a.name}`
        : `'${item.concept_name}' is not a concept of this world`;
      notes.push(`judge: ${why}; answered "no"`);
      misses.push(`${item.concept_name} (${why})`);
      return { ...item, present: 'no' };
    }
    if (observed[a.id] === value) return { ...item, present: 'yes' };
    misses.push(
      `${item.concept_name} (expected "${item.expected_value}", seen "${a.phrases[observed[a.id]]}")`,
    );
    return { ...item, present: 'no' };
  });
  const mainAt = prompt.checklist.findIndex((i) => norm(i.concept_name) === norm(prompt.target.name));
  const verdict = verdictFor(checks, mainAt === -1 ? 0 : mainAt);
  const yes = checks.filter((c) => c.present === 'yes').length;
  const reasoning =
    checks.length === 0
      ? 'The checklist is empty, so nothing could be confirmed.'
      : `${yes} of ${checks.length} checklist values are visible in the image` +
        (misses.length > 0 ? `; not visible: ${misses.join('; ')}.` : '.');
  // The judge prompt carries no intervention id; the template's first id is the best guess.
  return { intervention_id: 'intervention_1', concept_checks: checks, verdict, reasoning };
}
