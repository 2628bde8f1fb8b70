// `cgm triggers create|list|show|runs|pause|resume|rotate-secret|delete|send`: the trigger resource of the HTTP API
// (issue #20) from the command line. An HTTP client of `cgm api`: the API's URL and key come from
// CGM_API_URL and CGM_API_KEY (or --api), never from an argument that `ps` would show.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { CliError } from '../cli-error.js';
import { defineCommand } from '../command-definition.js';
import { EXIT } from '../error-boundary.js';
import { deliveryHeaders } from '../trigger-delivery.js';

export const TRIGGERS = defineCommand({
  name: 'triggers',
  synopsis: ['cgm triggers <create|list|show|runs|pause|resume|rotate-secret|delete|send> [options]'],
  about:
    '  create FILE.json      create a trigger from a JSON request (POST /v1/triggers); prints it with its\n' +
    '                        secret, which is shown only this once\n' +
    "  list                  this key's triggers\n" +
    '  show ID               one trigger\n' +
    '  runs ID               the runs a trigger started, with their status\n' +
    '  pause ID | resume ID  refuse deliveries (409 trigger_paused) or accept them again\n' +
    '  rotate-secret ID      a new secret for the trigger (printed once); the old one stops at once\n' +
    '  delete ID             delete a trigger (runs it started go on)\n' +
    "  send ID PAYLOAD.json  sign PAYLOAD with the trigger secret as the trigger's source kind expects\n" +
    '                        (Standard Webhooks, the S3-event secret header, or its HMAC header) and post\n' +
    '                        it to the hook; prints the answer (the runs started), exit 1 unless 2xx',
  options: {
    api: { type: 'string', value: 'URL', help: 'the API (CGM_API_URL, default http://127.0.0.1:8787)' },
    'secret-file': {
      type: 'string',
      value: 'FILE',
      help: 'send: the trigger secret (default: CGM_TRIGGER_SECRET)',
    },
    id: {
      type: 'string',
      value: 'ID',
      help: 'send: the delivery id (default: a new one; repeat it to see a redelivery)',
    },
    json: { type: 'boolean', help: 'list, runs: JSON instead of a table' },
  },
  footer:
    'The API key is read from CGM_API_KEY. A trigger request names its source kind, where the image is ' +
    'and which sources are allowed, and the run template; see "Trigger an edit from a webhook" in ' +
    'README.md and the TriggerCreateRequest schema at /docs.',
});

// biome-ignore lint/suspicious/noExplicitAny: API answers are printed or read field by field
type Body = any;

interface Api {
  base: string;
  key: string | undefined;
}

async function call(
  api: Api,
  method: string,
  path: string,
  init: { body?: string; headers?: Record<string, string>; auth?: boolean } = {},
) {
  const auth = init.auth ?? true;
  if (auth && !api.key)
    throw new CliError(
      'no API key: set CGM_API_KEY to a key the API accepts (CGM_API_KEYS on the server)',
      EXIT.credentials,
    );
  let res: Response;
  try {
    res = await fetch(`${api.base}${path}`, {
      method,
      headers: { ...(auth ? { authorization: `Bearer ${api.key}` } : {}), ...init.headers },
      body: init.body,
      signal: AbortSignal.timeout(60_000),
    });
  } catch (err) {
    throw new CliError(
      `cannot reach the API at ${api.base} (${(err as Error).message}); is \`cgm api\` running?`,
      EXIT.unavailable,
    );
  }
  const text = await res.text();
  let body: Body;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, ok: res.ok, body };
}

/** An API error answer as one line, with the exit code of its kind. */
function failed(what: string, answer: { status: number; body: Body }): CliError {
  const e = answer.body?.error;
  const detail = e ? `${e.code}${e.field ? ` (${e.field})` : ''}: ${e.message}` : `HTTP ${answer.status}`;
  const code =
    answer.status === 401 || answer.status === 403
      ? EXIT.credentials
      : answer.status >= 500
        ? EXIT.unavailable
        : EXIT.failure;
  return new CliError(`${what}: ${detail}`, code);
}

async function readJsonFile(path: string, what: string): Promise<{ text: string; value: unknown }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new CliError(
      `cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  try {
    return { text, value: JSON.parse(text) };
  } catch (err) {
    throw new CliError(`${what} ${path} is not JSON: ${(err as Error).message}`);
  }
}

const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return `${rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')}\n`;
}

async function secretFor(path: string | undefined): Promise<string> {
  if (path) {
    try {
      return (await readFile(path, 'utf8')).trim();
    } catch (err) {
      throw new CliError(
        `cannot read --secret-file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
    }
  }
  const env = process.env.CGM_TRIGGER_SECRET?.trim();
  if (!env)
    throw new CliError(
      'send: no trigger secret; give --secret-file FILE or set CGM_TRIGGER_SECRET',
      EXIT.credentials,
    );
  return env;
}

export async function run(argv: string[]): Promise<number> {
  const parsed = TRIGGERS.parse(argv);
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  const [sub, ...args] = positionals;
  const want = (n: number, names: string) => {
    if (args.length !== n) throw TRIGGERS.usageError(`triggers ${sub}: expected ${names}`);
  };
  const api: Api = {
    base: (values.api ?? process.env.CGM_API_URL ?? 'http://127.0.0.1:8787').replace(/\/+$/, ''),
    key: process.env.CGM_API_KEY?.trim() || undefined,
  };
  switch (sub) {
    case 'create': {
      want(1, 'FILE.json');
      const { text } = await readJsonFile(args[0]!, 'trigger request');
      const answer = await call(api, 'POST', '/v1/triggers', {
        body: text,
        headers: { 'content-type': 'application/json' },
      });
      if (!answer.ok) throw failed('create', answer);
      print(answer.body);
      process.stderr.write(
        `cgm triggers: the secret of ${answer.body.id} is shown only now; keep it (deliveries are signed with it)\n`,
      );
      return 0;
    }
    case 'list': {
      want(0, 'no argument');
      const answer = await call(api, 'GET', '/v1/triggers');
      if (!answer.ok) throw failed('list', answer);
      const triggers: Body[] = answer.body.triggers;
      if (values.json) print(triggers);
      else if (triggers.length === 0) process.stdout.write('no triggers\n');
      else
        process.stdout.write(
          table([
            ['ID', 'KIND', 'STATE', 'CREATED', 'NAME'],
            ...triggers.map((t) => [
              t.id,
              t.source.kind,
              t.paused ? 'paused' : 'active',
              t.createdAt,
              t.name,
            ]),
          ]),
        );
      return 0;
    }
    case 'show':
    case 'runs':
    case 'delete':
    case 'pause':
    case 'resume':
    case 'rotate-secret': {
      want(1, 'a trigger ID');
      const id = encodeURIComponent(args[0]!);
      const answer =
        sub === 'show'
          ? await call(api, 'GET', `/v1/triggers/${id}`)
          : sub === 'runs'
            ? await call(api, 'GET', `/v1/triggers/${id}/runs`)
            : sub === 'delete'
              ? await call(api, 'DELETE', `/v1/triggers/${id}`)
              : sub === 'rotate-secret'
                ? await call(api, 'POST', `/v1/triggers/${id}/secret`)
                : await call(api, 'PATCH', `/v1/triggers/${id}`, {
                    body: JSON.stringify({ paused: sub === 'pause' }),
                    headers: { 'content-type': 'application/json' },
                  });
      if (!answer.ok) throw failed(sub, answer);
      if (sub === 'runs' && !values.json) {
        const runs: Body[] = answer.body.runs;
        process.stdout.write(
          runs.length === 0
            ? 'no runs\n'
            : table([
                ['RUN', 'STATUS', 'CREATED', 'SOURCE'],
                ...runs.map((r) => [r.id, r.status, r.createdAt ?? '-', r.source]),
              ]),
        );
      } else print(answer.body);
      return 0;
    }
    case 'send': {
      want(2, 'a trigger ID and PAYLOAD.json');
      const [id, payloadPath] = args as [string, string];
      const trigger = await call(api, 'GET', `/v1/triggers/${encodeURIComponent(id)}`);
      if (!trigger.ok) throw failed('send', trigger);
      const secret = await secretFor(values['secret-file']);
      const { text } = await readJsonFile(payloadPath, 'payload');
      const deliveryId = values.id ?? `cli_${randomBytes(9).toString('hex')}`;
      let headers: Record<string, string>;
      try {
        headers = deliveryHeaders(
          trigger.body.source,
          secret,
          deliveryId,
          text,
          Math.floor(Date.now() / 1000),
        );
      } catch (err) {
        throw new CliError(`send: ${(err as Error).message}`);
      }
      const answer = await call(api, 'POST', trigger.body.hookUrl, { body: text, headers, auth: false });
      if (!answer.ok) throw failed(`send (delivery ${deliveryId})`, answer);
      print(answer.body);
      return 0;
    }
    case undefined:
      throw TRIGGERS.usageError('expected a sub-command');
    default:
      throw TRIGGERS.usageError(`triggers: unknown sub-command '${sub}'`);
  }
}
