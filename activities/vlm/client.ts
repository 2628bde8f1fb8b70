// The VLM transport: one chat-completion call through the `openai` client against any
// OpenAI-compatible server (vLLM serving Qwen3-VL in production, a recorded fake in tests).
// The client never retries (maxRetries 0): Temporal owns retries across attempts, and
// validated-call.ts owns the re-asks after invalid answers.

import OpenAI from 'openai';
import type {
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionMessageParam,
} from 'openai/resources/chat/completions';
import { PAPER_DEFAULTS } from '../../core/config/paper-defaults.js';
import type { PromptName } from '../../core/prompts/common.js';
import type { JsonSchema } from '../../core/schemas/json-schema.js';

/** Sampling settings of one kind of call. */
export interface VlmCallSettings {
  temperature: number;
  maxTokens: number;
}

/**
 * How structured output is asked for: `json_schema` (response_format with the zod-generated schema;
 * vLLM, OpenAI, llama.cpp server, SGLang), `json_object` (JSON mode only), `none` (prompt only,
 * the fallback parser does the rest).
 */
export type StructuredOutputMode = 'json_schema' | 'json_object' | 'none';

export interface VlmSettings {
  /** OpenAI-compatible base URL including /v1, e.g. http://127.0.0.1:8000/v1. */
  baseURL: string;
  /** vLLM accepts any key unless started with --api-key. */
  apiKey: string;
  /** Served model name, e.g. Qwen/Qwen3-VL-30B-A3B-Instruct. */
  model: string;
  /** Per HTTP request. */
  timeoutMs: number;
  /** Re-asks after an invalid answer; total calls ≤ 1 + this. */
  maxValidationRetries: number;
  structuredOutput: StructuredOutputMode;
  /** Send presigned S3 URLs instead of data URLs (the VLM server must reach the store). */
  imageTransport: 'data-url' | 'presigned-url';
  calls: Record<PromptName, VlmCallSettings>;
}

/**
 * Defaults. Paper "Implementation": extraction at temperature 0.1 / 2,048 tokens, manipulation at
 * 0.2 / 3,072. The paper gives none for the rest; ours: a user's do() propagates like Fig. 3, the
 * judge is deterministic (0), the scene description is one short paragraph.
 */
export const VLM_DEFAULTS: Omit<VlmSettings, 'baseURL' | 'model'> = {
  apiKey: 'EMPTY',
  timeoutMs: 120_000,
  maxValidationRetries: 2,
  structuredOutput: 'json_schema',
  imageTransport: 'data-url',
  calls: {
    extract: {
      temperature: PAPER_DEFAULTS.extractorTemperature,
      maxTokens: PAPER_DEFAULTS.extractorMaxTokens,
    },
    manipulate: {
      temperature: PAPER_DEFAULTS.manipulatorTemperature,
      maxTokens: PAPER_DEFAULTS.manipulatorMaxTokens,
    },
    propagate: { temperature: 0.2, maxTokens: 3072 },
    judge: { temperature: 0, maxTokens: 1024 },
    describe: { temperature: 0.2, maxTokens: 256 },
  },
};

export type VlmSettingsInput = Pick<VlmSettings, 'baseURL' | 'model'> &
  Partial<Omit<VlmSettings, 'baseURL' | 'model' | 'calls'>> & {
    calls?: Partial<Record<PromptName, Partial<VlmCallSettings>>>;
  };

/** Fills unset settings with VLM_DEFAULTS and checks the numbers (a bad setting fails at start-up). */
export function resolveVlmSettings(input: VlmSettingsInput): VlmSettings {
  const calls = { ...VLM_DEFAULTS.calls };
  for (const name of Object.keys(calls) as PromptName[])
    calls[name] = { ...calls[name], ...input.calls?.[name] };
  const s: VlmSettings = {
    ...VLM_DEFAULTS,
    ...stripUndefined(input),
    baseURL: input.baseURL,
    model: input.model,
    calls,
  };
  const problems: string[] = [];
  if (!/^https?:\/\//.test(s.baseURL)) problems.push(`baseURL must be an http(s) URL, got '${s.baseURL}'`);
  if (s.model.trim() === '') problems.push('model must be a non-empty served model name');
  if (!(s.timeoutMs > 0)) problems.push(`timeoutMs must be > 0, got ${s.timeoutMs}`);
  if (!Number.isInteger(s.maxValidationRetries) || s.maxValidationRetries < 0) {
    problems.push(`maxValidationRetries must be an integer ≥ 0, got ${s.maxValidationRetries}`);
  }
  for (const [name, c] of Object.entries(s.calls)) {
    if (!(c.temperature >= 0 && c.temperature <= 2))
      problems.push(`calls.${name}.temperature must be in [0, 2], got ${c.temperature}`);
    if (!Number.isInteger(c.maxTokens) || c.maxTokens < 1)
      problems.push(`calls.${name}.maxTokens must be an integer ≥ 1, got ${c.maxTokens}`);
  }
  if (problems.length > 0) throw new Error(`invalid VLM settings: ${problems.join('; ')}`);
  return s;
}

function stripUndefined(o: VlmSettingsInput): Partial<Omit<VlmSettings, 'calls'>> {
  return Object.fromEntries(Object.entries(o).filter(([k, v]) => v !== undefined && k !== 'calls'));
}

export interface ChatRequest {
  messages: ChatCompletionMessageParam[];
  call: VlmCallSettings;
  /** Name + JSON Schema for structured output; omitted for free-text answers. */
  schema?: { name: string; schema: JsonSchema };
  signal?: AbortSignal;
}

export interface ChatUsage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

export interface ChatAnswer {
  content: string;
  finishReason: string | null;
  usage: ChatUsage | null;
  /** The model name the server reported. */
  model: string;
}

/** The one seam between our code and the HTTP client; errors are the `openai` client's own. */
export interface VlmTransport {
  readonly settings: VlmSettings;
  chat(request: ChatRequest): Promise<ChatAnswer>;
}

export function createVlmTransport(settings: VlmSettings, client?: OpenAI): VlmTransport {
  const openai =
    client ??
    new OpenAI({
      baseURL: settings.baseURL,
      apiKey: settings.apiKey,
      timeout: settings.timeoutMs,
      maxRetries: 0,
    });
  return {
    settings,
    async chat({ messages, call, schema, signal }) {
      const body: ChatCompletionCreateParamsNonStreaming = {
        model: settings.model,
        messages,
        temperature: call.temperature,
        max_tokens: call.maxTokens,
      };
      if (schema && settings.structuredOutput === 'json_schema') {
        body.response_format = {
          type: 'json_schema',
          json_schema: { name: schema.name, schema: schema.schema, strict: true },
        };
      } else if (schema && settings.structuredOutput === 'json_object') {
        body.response_format = { type: 'json_object' };
      }
      const res = await openai.chat.completions.create(body, {
        signal,
        timeout: settings.timeoutMs,
        maxRetries: 0,
      });
      const choice = res.choices?.[0];
      const u = res.usage;
      return {
        content: choice?.message?.content ?? '',
        finishReason: choice?.finish_reason ?? null,
        usage: u
          ? {
              promptTokens: u.prompt_tokens,
              completionTokens: u.completion_tokens,
              totalTokens: u.total_tokens,
            }
          : null,
        model: res.model ?? settings.model,
      };
    },
  };
}
