// `cgm api [--host H] [--port N]`: serve the HTTP API (CGM_API_*, CGM_TEMPORAL_*, CGM_S3_* settings).
// `cgm api hash-key`: read an API key on stdin, print its sha256 for CGM_API_KEY_SHA256.
import { loadApiConfig } from '../../api/config.js';
import { hashApiKey } from '../../api/middleware/auth.js';
import { startApiServer } from '../../api/server.js';
import { loadConfig } from '../../core/config/index.js';
import { CliError } from '../cli-error.js';
import { defineCommand } from '../command-definition.js';
import { parsePort } from '../option-parsers.js';

export const API = defineCommand({
  name: 'api',
  synopsis: ['cgm api [--host HOST] [--port PORT]', 'cgm api hash-key < key.txt'],
  about:
    '  (default)  serve the HTTP API until SIGINT/SIGTERM; docs at /docs, OpenAPI at /openapi.json\n' +
    '  hash-key   print the sha256 of the API key read on stdin (for CGM_API_KEY_SHA256)',
  options: {
    host: { type: 'string', value: 'HOST', help: 'interface to listen on (default $CGM_API_HOST)' },
    port: { type: 'string', value: 'PORT', help: 'port to listen on (default $CGM_API_PORT)' },
  },
  footer:
    'Keys: CGM_API_KEYS (plain, hashed at start-up) and/or CGM_API_KEY_SHA256 (hashes). Limits, webhook ' +
    'policy and presign lifetime: the CGM_API_* variables listed in api/README.md.',
});

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').trim();
}

export async function run(argv: string[]): Promise<number> {
  const args = API.parse(argv);
  if (!args) return 0;
  const { values, positionals } = args;
  if (positionals[0] === 'hash-key' && positionals.length === 1) {
    const key = await readStdin();
    if (!key) throw new CliError('hash-key: no key on stdin');
    process.stdout.write(`${hashApiKey(key)}\n`);
    return 0;
  }
  if (positionals.length > 0) throw API.usageError(`unexpected '${positionals.join(' ')}'`);

  // a bad variable is a ConfigError, which the CLI boundary reports (exit 78)
  const config = loadConfig();
  const api = loadApiConfig(config);
  if (values.host) api.host = values.host;
  if (values.port !== undefined) api.port = parsePort('--port', values.port, { allowAny: true });
  if (api.keyHashes.length === 0)
    throw new CliError(
      'no API keys configured: set CGM_API_KEYS or CGM_API_KEY_SHA256 (every request would be refused)',
    );
  let server: Awaited<ReturnType<typeof startApiServer>>;
  try {
    server = await startApiServer(config, api);
  } catch (err) {
    throw new CliError(
      `cannot start the API: ${(err as Error).message}; is Temporal up at ${config.temporal.address} (cgm services up)?`,
      1,
    );
  }
  process.stderr.write(`cgm api: listening on ${server.url} (docs ${server.url}/docs)\n`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await server.close();
  return 0;
}
