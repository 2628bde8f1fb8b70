import {
  createVlmTransport,
  describeScene,
  extractConcepts,
  propagateIntervention,
  proposeInterventions,
  resolveVlmSettings,
  type StructuredOutputMode,
  VLM_FAILURE,
  type VlmContext,
  vlmFailureType,
} from '../../activities/vlm/index.js';
import { loadConfig } from '../../core/config/index.js';
import { DEFAULT_INTERVENTION_COUNT } from '../../core/prompts/manipulator.js';
import { type ConceptGraph, ConceptGraphSchema } from '../../core/schemas/paper.js';
import { CliError } from '../cli-error.js';
import { defineCommand, type OptionValues } from '../command-definition.js';
import { describeIssues, readBytes } from '../input-files.js';
import { oneOf, parseDoRequest, positiveInt } from '../option-parsers.js';
import { RATE_LIMIT_TRIES, retryRateLimits } from '../vlm-rate-limit.js';

const MODES: readonly StructuredOutputMode[] = ['json_schema', 'json_object', 'none'];

const VLM_FOOTER =
  'The VLM endpoint comes from CGM_VLM_BASE_URL, CGM_VLM_MODEL, CGM_VLM_API_KEY, CGM_VLM_TIMEOUT_MS, ' +
  "CGM_VLM_MAX_VALIDATION_RETRIES. A rate-limited call (HTTP 429) is retried after the server's " +
  `Retry-After (else 1 s, at most 60 s), ${RATE_LIMIT_TRIES} tries in all.`;

const caption = {
  type: 'string',
  value: 'TEXT',
  help: 'base prompt Y; without it the VLM first describes the scene (paper §5.1 step 1)',
} as const;
const structuredOutput = {
  type: 'string',
  value: 'MODE',
  help:
    "how the VLM is asked for JSON: json_schema (default: response_format with the answer's schema), " +
    'json_object or none',
} as const;

export const EXTRACT = defineCommand({
  name: 'extract',
  synopsis: ['cgm extract IMAGE [--caption TEXT] [--structured-output json_schema|json_object|none]'],
  about: "The image's concepts and causal graph from the VLM (paper Fig. 2), as JSON on stdout.",
  options: { caption, 'structured-output': structuredOutput },
  footer: VLM_FOOTER,
});

export const PROPOSE = defineCommand({
  name: 'propose',
  synopsis: [
    'cgm propose IMAGE --graph G.json [--caption TEXT] [--count N] [--do CONCEPT=VALUE]',
    '    [--structured-output json_schema|json_object|none]',
  ],
  about: 'Interventions on the graph from the VLM (paper Fig. 3), as JSON on stdout.',
  options: {
    graph: {
      type: 'string',
      value: 'G.json',
      help: 'a concept graph, or the JSON `cgm extract` printed (its graph, and its base prompt unless --caption is given)',
    },
    caption,
    count: {
      type: 'string',
      value: 'N',
      help: `how many interventions to ask for (default ${DEFAULT_INTERVENTION_COUNT})`,
    },
    do: {
      type: 'string',
      value: 'CONCEPT=VALUE',
      help: 'this one intervention instead (CONCEPT: a concept id or name); the VLM works out the changed descendants',
    },
    'structured-output': structuredOutput,
  },
  footer: VLM_FOOTER,
});

export async function run(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command !== 'extract' && command !== 'propose')
    throw new CliError(`cgm vlm: expected extract or propose (got '${command}')`, 2);
  const definition = command === 'extract' ? EXTRACT : PROPOSE;
  const args = definition.parse(rest);
  if (!args) return 0;
  // One value type for both tables: extract's lacks propose's options, which are then undefined.
  const values: Partial<OptionValues<typeof PROPOSE.options>> = args.values;
  const { positionals } = args;
  if (positionals.length !== 1) throw definition.usageError('expected one IMAGE');
  const mode = oneOf('--structured-output', values['structured-output'] ?? 'json_schema', MODES);
  const imagePath = positionals[0];
  const image = { bytes: await readBytes(imagePath, 'the image'), name: imagePath };

  const vlm = loadConfig().vlm;
  const settings = resolveVlmSettings({
    baseURL: vlm.baseUrl,
    model: vlm.model,
    apiKey: vlm.apiKey,
    timeoutMs: vlm.timeoutMs,
    maxValidationRetries: vlm.maxValidationRetries,
    structuredOutput: mode,
  });
  const ctx: VlmContext = { transport: retryRateLimits(createVlmTransport(settings)) };

  try {
    let out: Record<string, unknown>;
    if (command === 'extract') {
      const { basePrompt, attempts: describeAttempts } = await basePromptFor(ctx, image, values.caption);
      const extracted = await extractConcepts(ctx, { image, caption: basePrompt.text });
      out = { basePrompt, ...extracted, attempts: [...describeAttempts, ...extracted.attempts] };
    } else {
      if (!values.graph) throw PROPOSE.usageError('propose needs --graph G.json');
      const file = await readGraphFile(values.graph);
      const { basePrompt, attempts: describeAttempts } = await basePromptFor(
        ctx,
        image,
        values.caption ?? file.basePrompt,
      );
      const count = values.count === undefined ? undefined : positiveInt('--count', values.count);
      if (values.do !== undefined) {
        const { concept, value } = parseDoRequest(values.do);
        const result = await propagateIntervention(ctx, {
          image,
          graph: file.graph,
          basePrompt: basePrompt.text,
          concept,
          value,
        });
        out = { basePrompt, ...result, attempts: [...describeAttempts, ...result.attempts] };
      } else {
        const result = await proposeInterventions(ctx, {
          image,
          graph: file.graph,
          basePrompt: basePrompt.text,
          count,
        });
        out = { basePrompt, ...result, attempts: [...describeAttempts, ...result.attempts] };
      }
    }
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return 0;
  } catch (err) {
    const type = vlmFailureType(err);
    if (type === undefined) throw err;
    if (type === VLM_FAILURE.rateLimited) {
      // The failure's own text says when Temporal would retry; here the tries are spent.
      const where = (err as Error).message.replace(/ is rate limiting.*$/, '');
      throw new CliError(
        `${type}: ${where} was still rate limiting (HTTP 429) after ${RATE_LIMIT_TRIES} tries; try again later`,
        1,
      );
    }
    throw new CliError(`${type}: ${(err as Error).message}`, type === VLM_FAILURE.invalidInput ? 2 : 1);
  }
}

async function basePromptFor(ctx: VlmContext, image: { bytes: Uint8Array; name: string }, caption?: string) {
  if (caption !== undefined && caption.trim() !== '') {
    return { basePrompt: { text: caption.trim(), source: 'user' as const }, attempts: [] };
  }
  const described = await describeScene(ctx, { image });
  return { basePrompt: { text: described.text, source: 'vlm' as const }, attempts: described.attempts };
}

/** A concept graph, or the JSON `cgm extract` printed (its graph.graph and basePrompt.text). */
async function readGraphFile(file: string): Promise<{ graph: ConceptGraph; basePrompt?: string }> {
  const text = Buffer.from(await readBytes(file, 'the graph')).toString('utf8');
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new CliError(`${file}: not valid JSON (${(err as Error).message})`, 2);
  }
  const extractOut = data as { graph?: { graph?: unknown }; basePrompt?: { text?: unknown } };
  const candidate = extractOut?.graph?.graph ?? data;
  const parsed = ConceptGraphSchema.safeParse(candidate, { reportInput: true });
  if (!parsed.success) throw new CliError(`${file}: not a concept graph: ${describeIssues(parsed.error)}`, 2);
  const basePrompt =
    typeof extractOut?.basePrompt?.text === 'string' ? extractOut.basePrompt.text : undefined;
  return { graph: parsed.data, basePrompt };
}
