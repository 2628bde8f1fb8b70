// The world VLM as an OpenAI-compatible HTTP server (loopback only): POST /v1/chat/completions answers the
// workflow's prompts for street-world images (core/world/vlm-answers.ts), GET /v1/models lists the one
// served model, GET /stats counts the requests per prompt kind. Point the light worker at it with
// CGM_VLM_BASE_URL=http://127.0.0.1:PORT/v1 (`cgm world vlm` prints that URL).
//
// Protocol: chat.completion bodies as vLLM sends them (id, object, created, model = the requested name,
// choices[0].message.content, finish_reason "stop", usage). Any model name is accepted and echoed back
// (the workflow's CGM_VLM_MODEL can stay as it is). usage is an estimate (about 4 characters a token,
// 256 tokens an image); max_tokens is not enforced. A request the server cannot understand gets HTTP 400
// with an OpenAI error body {"error": {message, type: "invalid_request_error", param, code}} naming what it
// did not recognise; a reader failure gets 500 (type "server_error").
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { loadWorldDataset, type WorldDataset } from './dataset.js';
import { WorldInputError } from './errors.js';
import { DEFAULT_WORLD_MODEL_DIR, WorldOracle } from './oracle.js';
import { loadWorldScm, type WorldScm } from './scm.js';
import {
  answerChatRequest,
  type KnownScene,
  WORLD_PROMPT_KINDS,
  type WorldPromptKind,
  type WorldReader,
  WorldVlmError,
} from './vlm-answers.js';

export const WORLD_VLM_MODEL = 'cgm-world-vlm';
export const DEFAULT_WORLD_VLM_PORT = 8011;
/** Largest request body accepted (a 128² PNG as a data URL is ~40 kB; generated images are larger). */
const MAX_BODY_BYTES = 32 * 1024 * 1024;
const FETCH_TIMEOUT_MS = 30_000;

export interface WorldVlmStats {
  /** Answered requests per prompt kind. */
  requests: Record<WorldPromptKind, number>;
  /** Requests refused with 4xx. */
  rejected: number;
  /** Requests that failed with 5xx. */
  failed: number;
  /** Answers that used a data set scene's exact noise. */
  datasetMatches: number;
}

export interface WorldVlmLogLine {
  status: number;
  kind?: WorldPromptKind;
  ms: number;
  sceneId?: string;
  error?: string;
  notes?: string[];
}

export interface WorldVlmAppOptions {
  scm: WorldScm;
  reader: WorldReader;
  /** A loaded data set (`cgm world dataset`): its scene images are recognised by sha256, and their U used. */
  dataset?: WorldDataset;
  /** Served model name listed by GET /v1/models. */
  modelName?: string;
  /** Fetches http(s) image URLs; default: fetch() with a 30 s timeout. */
  fetchImage?: (url: string) => Promise<Uint8Array>;
  log?: (line: WorldVlmLogLine) => void;
}

/** sha256 of each data set scene image → that scene's id, exact noise and its interventions' values. */
export function indexWorldDataset(dataset: WorldDataset): Map<string, KnownScene> {
  const index = new Map<string, KnownScene>();
  for (const scene of dataset.scenes) {
    const sha = createHash('sha256').update(readFileSync(scene.imagePath)).digest('hex');
    const doValues = Object.fromEntries(scene.interventions.flatMap((iv) => Object.entries(iv.do)));
    index.set(sha, { sceneId: scene.id, noise: scene.u.noise, doValues });
  }
  return index;
}

async function fetchImage(url: string): Promise<Uint8Array> {
  const res = await fetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** About 4 characters a token for text, 256 tokens an image. */
function estimatePromptTokens(messages: unknown[]): number {
  let chars = 0;
  let images = 0;
  for (const m of messages) {
    const content = (m as { content?: unknown })?.content;
    if (typeof content === 'string') chars += content.length;
    else if (Array.isArray(content))
      for (const part of content as { type?: unknown; text?: unknown }[]) {
        if (part?.type === 'image_url') images++;
        else if (typeof part?.text === 'string') chars += part.text.length;
      }
  }
  return Math.ceil(chars / 4) + 256 * images;
}

const errorBody = (message: string, status: number, code: string | null, param: string | null) => ({
  error: {
    message,
    type: status >= 500 ? 'server_error' : status === 404 ? 'not_found_error' : 'invalid_request_error',
    param,
    code,
  },
});

/** The Hono app; `app.stats()` is what GET /stats returns. */
export function createWorldVlmApp(opts: WorldVlmAppOptions): Hono & { stats(): WorldVlmStats } {
  const model = opts.modelName ?? WORLD_VLM_MODEL;
  const scenes = opts.dataset ? indexWorldDataset(opts.dataset) : undefined;
  const stats: WorldVlmStats = {
    requests: Object.fromEntries(WORLD_PROMPT_KINDS.map((k) => [k, 0])) as Record<WorldPromptKind, number>,
    rejected: 0,
    failed: 0,
    datasetMatches: 0,
  };
  const created = Math.floor(Date.now() / 1000);
  const app = new Hono();

  app.get('/v1/models', (c) =>
    c.json({ object: 'list', data: [{ id: model, object: 'model', created, owned_by: 'cgm-world' }] }),
  );
  app.get('/stats', (c) => c.json(structuredClone(stats)));
  app.get('/health', (c) => c.json({ ok: true }));

  app.post('/v1/chat/completions', async (c) => {
    const started = performance.now();
    const fail = (status: number, message: string, code: string | null, param: string | null = null) => {
      if (status >= 500) stats.failed++;
      else stats.rejected++;
      opts.log?.({ status, ms: performance.now() - started, error: message });
      return c.json(errorBody(message, status, code, param), status as ContentfulStatusCode);
    };
    const length = Number(c.req.header('content-length') ?? 0);
    if (length > MAX_BODY_BYTES)
      return fail(
        413,
        `the request body (${length} bytes) is larger than ${MAX_BODY_BYTES} bytes`,
        'too_large',
      );
    let body: unknown;
    try {
      body = await c.req.json();
    } catch (err) {
      return fail(400, `the request body is not valid JSON (${(err as Error).message})`, 'invalid_json');
    }
    try {
      const answer = await answerChatRequest(body, {
        scm: opts.scm,
        reader: opts.reader,
        sceneNoise: scenes ? (sha) => scenes.get(sha) : undefined,
        fetchImage: opts.fetchImage ?? fetchImage,
      });
      stats.requests[answer.kind]++;
      if (answer.sceneId) stats.datasetMatches++;
      opts.log?.({
        status: 200,
        kind: answer.kind,
        ms: performance.now() - started,
        ...(answer.sceneId ? { sceneId: answer.sceneId } : {}),
        ...(answer.notes.length > 0 ? { notes: answer.notes } : {}),
      });
      const req = body as { model: string; messages: unknown[] };
      const promptTokens = estimatePromptTokens(req.messages);
      const completionTokens = Math.max(1, Math.ceil(answer.content.length / 4));
      return c.json({
        id: `chatcmpl-${randomUUID().replaceAll('-', '')}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: req.model,
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: answer.content, tool_calls: [] },
            logprobs: null,
            finish_reason: 'stop',
          },
        ],
        usage: {
          prompt_tokens: promptTokens,
          completion_tokens: completionTokens,
          total_tokens: promptTokens + completionTokens,
        },
      });
    } catch (err) {
      if (err instanceof WorldVlmError) return fail(err.status, err.message, err.code, err.param);
      return fail(500, `world VLM: ${(err as Error).message ?? String(err)}`, 'internal_error');
    }
  });

  app.notFound((c) => {
    stats.rejected++;
    return c.json(
      errorBody(
        `no route ${c.req.method} ${c.req.path}; this server answers POST /v1/chat/completions, GET /v1/models and GET /stats`,
        404,
        'not_found',
        null,
      ),
      404,
    );
  });
  return Object.assign(app, { stats: () => structuredClone(stats) });
}

export interface StartWorldVlmOptions {
  /** Loopback only: 127.0.0.1 (default), ::1 or localhost. */
  host?: string;
  /** 0 (default): any free port. */
  port?: number;
  /** Folder with oracle.onnx and oracle.json (default world/model); unused when `reader` is given. */
  modelDir?: string;
  /** A `cgm world dataset` folder whose scenes' exact U is used for their images. */
  dataset?: string;
  scm?: WorldScm;
  /** Reads the images instead of the ONNX oracle (tests). */
  reader?: WorldReader;
  modelName?: string;
  log?: (line: WorldVlmLogLine) => void;
}

export interface RunningWorldVlm {
  /** http://127.0.0.1:PORT/v1, for CGM_VLM_BASE_URL. */
  readonly baseURL: string;
  readonly port: number;
  stats(): WorldVlmStats;
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export async function startWorldVlmServer(opts: StartWorldVlmOptions = {}): Promise<RunningWorldVlm> {
  const host = opts.host ?? '127.0.0.1';
  if (!LOOPBACK.has(host))
    throw new WorldInputError(
      `host: '${host}' is not a loopback address; the world VLM listens on 127.0.0.1, ::1 or localhost only`,
    );
  const scm = opts.scm ?? loadWorldScm();
  const dataset = opts.dataset ? loadWorldDataset(opts.dataset, scm) : undefined;
  const oracle = opts.reader ? undefined : await openOracle(scm, opts.modelDir ?? DEFAULT_WORLD_MODEL_DIR);
  const reader = opts.reader ?? oracle!;
  const app = createWorldVlmApp({ scm, reader, dataset, modelName: opts.modelName, log: opts.log });
  let server: ReturnType<typeof serve>;
  try {
    server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
      const s = serve({ fetch: app.fetch, port: opts.port ?? 0, hostname: host }, () => resolve(s));
      s.once('error', reject);
    });
  } catch (err) {
    await oracle?.release();
    throw err;
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : (opts.port ?? 0);
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    baseURL: `http://${shownHost}:${port}/v1`,
    port,
    stats: () => app.stats(),
    async close() {
      await new Promise<void>((done) => {
        if ('closeAllConnections' in server) server.closeAllConnections();
        server.close(() => done());
      });
      await oracle?.release();
    },
  };
}

async function openOracle(scm: WorldScm, modelDir: string): Promise<WorldOracle> {
  try {
    return await WorldOracle.open(scm, modelDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || /no such file|ENOENT/i.test(String(err)))
      throw new WorldInputError(
        `${modelDir}: no trained oracle (oracle.onnx + oracle.json); train it with \`cgm world train\` or pass --model DIR`,
      );
    throw err;
  }
}
