// An OpenAI-compatible VLM test server for batches: many child runs call it concurrently, so instead of
// a scripted queue (fake-vlm-server.ts) it answers by the structured-output schema the request names:
// the recorded portrait graph for extraction, its first recorded intervention for proposals, and for
// the judge every checklist item of the prompt, "yes" or "no" decided by a hash of the image and the
// item (so VLM-Eff varies between counterfactuals, deterministically).
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chatCompletion, recordedContent } from './fake-vlm-server.js';

export interface BatchVlmServer {
  readonly baseURL: string;
  /** Requests answered, by schema name. */
  readonly counts: Record<string, number>;
  close(): Promise<void>;
}

type Part = { type: string; text?: string; image_url?: { url: string } };
type Body = {
  messages?: { content: string | Part[] }[];
  response_format?: { json_schema?: { name?: string } };
};

/** "• name: value" lines between <checklist> tags (core/prompts/judge.ts renderChecklist). */
export function checklistOf(prompt: string): { concept_name: string; expected_value: string }[] {
  const block = /<checklist>\n([\s\S]*?)\n<\/checklist>/.exec(prompt)?.[1] ?? '';
  return block
    .split('\n')
    .map((line) => /^• (.*?): (.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ concept_name: m[1], expected_value: m[2] }));
}

/** The judge's deterministic "yes"/"no" for one item of one image. */
export function judgeSays(imageUrl: string, conceptName: string): 'yes' | 'no' {
  return createHash('sha256').update(`${imageUrl}\u0000${conceptName}`).digest()[0] % 3 === 0 ? 'no' : 'yes';
}

function answer(body: Body): string {
  const schema = body.response_format?.json_schema?.name;
  const parts = (body.messages ?? []).flatMap((m) =>
    typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : m.content,
  );
  const text = parts.map((p) => p.text ?? '').join('\n');
  const image = parts.find((p) => p.type === 'image_url')?.image_url?.url ?? '';
  if (schema === 'concept_graph') return recordedContent('portrait-extract');
  if (schema === 'intervention_set') {
    const set = JSON.parse(recordedContent('portrait-propose')) as { interventions: unknown[] };
    return JSON.stringify({ interventions: set.interventions.slice(0, 1) });
  }
  if (schema === 'judge_verdict') {
    const checks = checklistOf(text).map((c) => ({ ...c, present: judgeSays(image, c.concept_name) }));
    const yes = checks.filter((c) => c.present === 'yes').length;
    return JSON.stringify({
      intervention_id: 'answered-by-test-server',
      concept_checks: checks,
      verdict: yes === checks.length ? 'success' : yes * 2 > checks.length ? 'partial' : 'failure',
      reasoning: `${yes} of ${checks.length} items visible`,
    });
  }
  throw new Error(`batch VLM server: no answer for schema '${schema}'`);
}

export async function startBatchVlmServer(): Promise<BatchVlmServer> {
  const counts: Record<string, number> = {};
  const reply = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (req.method !== 'POST' || !req.url?.startsWith('/v1/chat/completions')) {
      return reply(res, 404, { error: { message: `no route ${req.method} ${req.url}` } });
    }
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Body;
    const name = body.response_format?.json_schema?.name ?? '(none)';
    counts[name] = (counts[name] ?? 0) + 1;
    reply(res, 200, chatCompletion(answer(body)));
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => reply(res, 500, { error: { message: String(err) } }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    counts,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };
}
