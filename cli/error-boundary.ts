// The one place where a failed `cgm` command becomes what the user reads: one actionable line (or the
// list of bad variables) and an exit code by kind, never a stack trace unless CGM_DEBUG=1.
import { CliError } from './cli-error.js';

/** Exit codes by kind of failure (sysexits.h where one fits). */
export const EXIT = {
  failure: 1,
  usage: 2,
  /** A service (Temporal, S3, the VLM) cannot be reached. */
  unavailable: 69,
  /** Credentials are missing or refused. */
  credentials: 77,
  /** A configuration variable is invalid. */
  config: 78,
} as const;

export interface Reported {
  message: string;
  exitCode: number;
}

type Env = Record<string, string | undefined>;

const text = (err: unknown): string => {
  const e = err as { name?: string; message?: string; code?: string; cause?: unknown };
  const own = `${e?.name ?? ''} ${e?.message ?? ''} ${e?.code ?? ''}`;
  return e?.cause && e.cause !== err ? `${own} ${text(e.cause)}` : own;
};

/** What the user is told for `err`, thrown by the command `command`. */
export function reportFailure(err: unknown, command: string | undefined, env: Env = process.env): Reported {
  if (err instanceof CliError) return { message: err.message, exitCode: err.exitCode };
  const name = (err as Error)?.name ?? '';
  const all = text(err);
  if (name === 'ConfigError') {
    return { message: (err as Error).message, exitCode: EXIT.config };
  }
  if ((err as { code?: string })?.code?.startsWith('ERR_PARSE_ARGS_')) {
    const help = command ? `cgm ${command} --help` : 'cgm --help';
    return { message: `${(err as Error).message}; see \`${help}\``, exitCode: EXIT.usage };
  }
  const s3 = env.CGM_S3_ENDPOINT || 'http://127.0.0.1:8333';
  if (/CredentialsProviderError|Could not load credentials/.test(all)) {
    return {
      message:
        `S3 credentials are missing (for ${s3}): start the local stack with \`cgm services up\` and run the ` +
        '`export CGM_…` lines it prints, or set CGM_S3_ACCESS_KEY_ID and CGM_S3_SECRET_ACCESS_KEY',
      exitCode: EXIT.credentials,
    };
  }
  if (/InvalidAccessKeyId|SignatureDoesNotMatch|AccessDenied/.test(all)) {
    return {
      message: `S3 at ${s3} refused the credentials: check CGM_S3_ACCESS_KEY_ID and CGM_S3_SECRET_ACCESS_KEY`,
      exitCode: EXIT.credentials,
    };
  }
  const temporal = env.CGM_TEMPORAL_ADDRESS || '127.0.0.1:7233';
  if (/TransportError|Failed to connect|tcp connect error|DEADLINE_EXCEEDED.*connect/i.test(all)) {
    return {
      message:
        `Temporal at ${temporal} is unreachable: start it with \`cgm services up\` (and run the ` +
        '`export CGM_…` lines it prints) or set CGM_TEMPORAL_ADDRESS',
      exitCode: EXIT.unavailable,
    };
  }
  if (/ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT|ECONNRESET/.test(all)) {
    const where = /:(\d+)/.exec(all)?.[0];
    return {
      message:
        `a service is unreachable${where ? ` (port ${where.slice(1)})` : ''}: S3 at ${s3}, Temporal at ` +
        `${temporal}; start them with \`cgm services up\` or set CGM_S3_ENDPOINT / CGM_TEMPORAL_ADDRESS`,
      exitCode: EXIT.unavailable,
    };
  }
  // Anything else: its own words, prefixed with its type when that says something (VlmRateLimited: …).
  if (!(err instanceof Error)) return { message: String(err), exitCode: EXIT.failure };
  const typed = err.name && err.name !== 'Error' && !err.message.startsWith(err.name);
  return { message: typed ? `${err.name}: ${err.message}` : err.message, exitCode: EXIT.failure };
}

/** Writes the report (and, with CGM_DEBUG=1, the stack) to stderr; returns the exit code. */
export function reportToStderr(err: unknown, command: string | undefined, env: Env = process.env): number {
  const { message, exitCode } = reportFailure(err, command, env);
  process.stderr.write(`cgm: ${message}\n`);
  if (env.CGM_DEBUG === '1' && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  return exitCode;
}
