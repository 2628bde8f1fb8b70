// The CLI's one error boundary (cli/error-boundary.ts): each kind of failure is one actionable line with
// its own exit code, never a stack trace unless CGM_DEBUG=1; and the real `cgm` process behaves so for
// the failures a new user meets first (nothing running, a bad variable, a missing file, a bad flag).
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CliError } from '../../cli/cli-error.js';
import { EXIT, reportFailure } from '../../cli/error-boundary.js';
import { ConfigError } from '../../core/config/config.js';

const named = (name: string, message: string, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(message), { name, ...extra });

describe('reportFailure', () => {
  const env = { CGM_S3_ENDPOINT: 'http://127.0.0.1:9000', CGM_TEMPORAL_ADDRESS: '127.0.0.1:7777' };

  it('maps each kind of failure to one line and its exit code', () => {
    const cases: [unknown, RegExp, number][] = [
      [new CliError('--steps: expected a positive integer', 2), /^--steps: expected/, EXIT.usage],
      [
        new ConfigError([{ variable: 'CGM_API_PORT', value: '"abc"', expected: 'an integer' }]),
        /CGM_API_PORT="abc": an integer/,
        EXIT.config,
      ],
      [
        named('TypeError', "Unknown option '--bogus'", { code: 'ERR_PARSE_ARGS_UNKNOWN_OPTION' }),
        /Unknown option '--bogus'; see `cgm run --help`/,
        EXIT.usage,
      ],
      [
        named('CredentialsProviderError', 'Could not load credentials from any providers'),
        /S3 credentials are missing \(for http:\/\/127\.0\.0\.1:9000\).*cgm services up/,
        EXIT.credentials,
      ],
      [named('InvalidAccessKeyId', 'The access key is wrong'), /refused the credentials/, EXIT.credentials],
      [
        named('TransportError', 'Failed to connect before the deadline'),
        /Temporal at 127\.0\.0\.1:7777 is unreachable/,
        EXIT.unavailable,
      ],
      [
        named('Error', 'connect ECONNREFUSED 127.0.0.1:9000', { code: 'ECONNREFUSED' }),
        /unreachable \(port 9000\).*cgm services up/,
        EXIT.unavailable,
      ],
      // The cause chain counts: the SDK often wraps the socket error.
      [
        named('Error', 'request failed', { cause: named('Error', 'x', { code: 'ECONNREFUSED' }) }),
        /unreachable/,
        EXIT.unavailable,
      ],
      [new Error('something we did not foresee'), /^something we did not foresee$/, EXIT.failure],
      [named('VlmRateLimited', 'still rate limited'), /^VlmRateLimited: still rate limited$/, EXIT.failure],
    ];
    for (const [err, message, code] of cases) {
      const r = reportFailure(err, 'run', env);
      expect(r.message, String(err)).toMatch(message);
      expect(r.exitCode, String(err)).toBe(code);
      if (!(err instanceof ConfigError)) expect(r.message).not.toContain('\n');
    }
    // The exit codes tell the kinds apart.
    expect(new Set(Object.values(EXIT)).size).toBe(Object.keys(EXIT).length);
  });
});

const CGM = fileURLToPath(new URL('../../bin/cgm.mjs', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../../examples/rainy-street/', import.meta.url));

/** Runs `cgm` with a clean environment (no stack services configured); stderr without the SDK's Node warning. */
function cgm(args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [CGM, ...args],
      {
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
        cwd: fileURLToPath(new URL('../..', import.meta.url)),
        timeout: 60_000,
      },
      (error, _stdout, stderr) => {
        const lines = stderr.split('\n');
        const kept: string[] = [];
        let inWarning = false;
        for (const line of lines) {
          if (line.startsWith('(node:')) inWarning = true;
          if (!inWarning && line.trim() !== '') kept.push(line);
          if (inWarning && line.startsWith('(Use `node --trace-warnings')) inWarning = false;
        }
        resolve({ code: error ? Number(error.code ?? 1) : 0, stderr: kept.join('\n') });
      },
    );
  });
}

describe('cgm process: the first failures a new user meets', () => {
  const image = `${EXAMPLE}image.png`;
  const graph = ['--graph', `${EXAMPLE}graph.json`, '--interventions', `${EXAMPLE}interventions.json`];
  // A closed loopback port stands for "nothing running".
  const nothingRunning = {
    CGM_S3_ENDPOINT: 'http://127.0.0.1:9',
    CGM_TEMPORAL_ADDRESS: '127.0.0.1:9',
    CGM_S3_ACCESS_KEY_ID: 'k',
    CGM_S3_SECRET_ACCESS_KEY: 's',
  };

  it.each([
    [
      'nothing running',
      ['run', image, ...graph],
      nothingRunning,
      EXIT.unavailable,
      /unreachable.*cgm services up/,
    ],
    [
      'no S3 credentials',
      ['run', image, ...graph],
      { CGM_S3_ENDPOINT: 'http://127.0.0.1:9' },
      EXIT.credentials,
      /S3 credentials are missing/,
    ],
    ['a bad variable', ['run', image, ...graph], { CGM_API_PORT: 'abc' }, EXIT.config, /CGM_API_PORT="abc"/],
    ['a missing file', ['run', 'nope.png', ...graph], nothingRunning, EXIT.usage, /nope\.png: cannot read/],
    ['a bad flag', ['run', '--bogus'], {}, EXIT.usage, /Unknown option '--bogus'/],
  ])(
    '%s: one message, no stack trace, its own exit code',
    async (_what, args, env, code, message) => {
      const r = await cgm(args, env);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/^\s+at /m);
      expect(r.code).toBe(code);
    },
    60_000,
  );

  it('CGM_DEBUG=1 adds the stack trace', async () => {
    const r = await cgm(['run', image, ...graph], { ...nothingRunning, CGM_DEBUG: '1' });
    expect(r.code).toBe(EXIT.unavailable);
    expect(r.stderr).toMatch(/^\s+at /m);
  }, 60_000);
});
