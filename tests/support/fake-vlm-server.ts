// A real HTTP server on loopback that speaks the OpenAI chat-completions protocol and answers from a
// scripted queue of recorded responses (status, headers such as Retry-After, delay, body). It records
// every request so tests can assert on what our code sent. Reusable by workflow tests and the demo.
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

export interface ScriptedReply {
  /** HTTP status, default 200. */
  status?: number;
  headers?: Record<string, string>;
  /** Wait this long before answering (to push a client past its timeout). */
  delayMs?: number;
  /** An object is sent as JSON; a string is sent as is (e.g. a broken body). */
  body: unknown;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON body (undefined for GET or a body that is not JSON). */
  body: unknown;
  /** The reply used, or undefined when the queue was empty. */
  replied?: ScriptedReply;
}

export interface FakeVlmServer {
  /** Base URL including /v1, for the `openai` client / CGM_VLM_BASE_URL. */
  readonly baseURL: string;
  readonly requests: RecordedRequest[];
  /** Appends replies to the queue; each POST /v1/chat/completions takes the next one. */
  enqueue(...replies: ScriptedReply[]): void;
  /** Replies not yet used. */
  pending(): number;
  close(): Promise<void>;
}

export const FIXTURE_DIR = fileURLToPath(new URL('../fixtures/vlm/', import.meta.url));

/** A recorded chat.completion body from tests/fixtures/vlm, as a 200 reply. */
export function recorded(name: string, extra: Omit<ScriptedReply, 'body'> = {}): ScriptedReply {
  return { ...extra, body: JSON.parse(readFileSync(`${FIXTURE_DIR}${name}.json`, 'utf8')) };
}

/** The text content of a recorded answer (to build variants in a test). */
export function recordedContent(name: string): string {
  const body = recorded(name).body as { choices: { message: { content: string } }[] };
  return body.choices[0].message.content;
}

/** A vLLM-shaped chat.completion with the given assistant content. */
export function chatCompletion(
  content: string,
  opts: { model?: string; usage?: [prompt: number, completion: number]; finishReason?: string } = {},
): Record<string, unknown> {
  const [p, c] = opts.usage ?? [1000, 200];
  return {
    id: 'chatcmpl-fake',
    object: 'chat.completion',
    created: 1764340000,
    model: opts.model ?? 'Qwen/Qwen3-VL-30B-A3B-Instruct',
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content, tool_calls: [], reasoning_content: null },
        logprobs: null,
        finish_reason: opts.finishReason ?? 'stop',
        stop_reason: null,
      },
    ],
    usage: { prompt_tokens: p, completion_tokens: c, total_tokens: p + c, prompt_tokens_details: null },
  };
}

/** The error body current vLLM (and OpenAI) send: {"error": {message, type, param, code}}. */
export function errorReply(
  status: number,
  message: string,
  headers: Record<string, string> = {},
): ScriptedReply {
  return { status, headers, body: { error: { message, type: 'Error', param: null, code: status } } };
}

export async function startFakeVlmServer(opts: { models?: string[] } = {}): Promise<FakeVlmServer> {
  const models = opts.models ?? ['Qwen/Qwen3-VL-30B-A3B-Instruct'];
  const queue: ScriptedReply[] = [];
  const requests: RecordedRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();

  const send = (res: ServerResponse, reply: ScriptedReply) => {
    if (res.destroyed) return;
    const text = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
    res.writeHead(reply.status ?? 200, { 'content-type': 'application/json', ...reply.headers });
    res.end(text);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    let body: unknown;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      body = undefined;
    }
    const path = (req.url ?? '/').split('?')[0];
    const record: RecordedRequest = { method: req.method ?? 'GET', path, headers: req.headers, body };
    requests.push(record);

    if (req.method === 'GET' && path === '/v1/models') {
      return send(res, {
        body: {
          object: 'list',
          data: models.map((id) => ({ id, object: 'model', owned_by: 'vllm', created: 0 })),
        },
      });
    }
    if (req.method !== 'POST' || path !== '/v1/chat/completions') {
      return send(res, errorReply(404, `fake VLM server: no route ${req.method} ${path}`));
    }
    const reply = queue.shift();
    if (!reply) {
      return send(
        res,
        errorReply(500, `fake VLM server: no scripted reply left for request #${requests.length}`),
      );
    }
    record.replied = reply;
    if (!reply.delayMs) return send(res, reply);
    const timer = setTimeout(() => {
      timers.delete(timer);
      send(res, reply);
    }, reply.delayMs);
    timers.add(timer);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => send(res, errorReply(500, `fake VLM server: ${String(err)}`)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests,
    enqueue: (...replies) => {
      queue.push(...replies);
    },
    pending: () => queue.length,
    close: async () => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };
}
