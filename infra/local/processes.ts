// Detached service processes and how to stop exactly them. A PID alone is not an identity (PIDs
// are reused), so every recorded process carries its argv and kernel start time, and both are
// checked in /proc before any signal is sent.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';

export const ProcessRecordSchema = z.object({
  name: z.string(),
  pid: z.number().int().positive(),
  /** Process group id; services are spawned detached, so it equals pid. */
  pgid: z.number().int().positive(),
  argv: z.array(z.string()).min(1),
  /** Field 22 of /proc/PID/stat (clock ticks since boot), guards against PID reuse. */
  startTime: z.string().nullable(),
  logFile: z.string(),
});
export type ProcessRecord = z.infer<typeof ProcessRecordSchema>;

/** argv of a running process from /proc, or null when it is gone or a zombie. */
export function readProcArgv(pid: number): string[] | null {
  try {
    if (readProcState(pid) === 'Z') return null;
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (raw.length === 0) return null;
    return raw.replace(/\0$/, '').split('\0');
  } catch {
    return null;
  }
}

function readProcStat(pid: number): string[] | null {
  try {
    const raw = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    const rest = raw.slice(raw.lastIndexOf(')') + 2).split(' ');
    return rest; // rest[0] is field 3 (state)
  } catch {
    return null;
  }
}

function readProcState(pid: number): string | null {
  return readProcStat(pid)?.[0] ?? null;
}

/** Kernel start time of a process (field 22 of /proc/PID/stat), or null. */
export function readProcStartTime(pid: number): string | null {
  return readProcStat(pid)?.[19] ?? null;
}

/**
 * The live argv equals the recorded one, or is it behind one interpreter element: a `#!` script
 * (e.g. a wrapper around the real binary) shows up in /proc as [interpreter, script, ...args].
 */
export function argvMatches(actual: readonly string[], recorded: readonly string[]): boolean {
  const same = (a: readonly string[]) => a.length === recorded.length && a.every((x, i) => x === recorded[i]);
  return same(actual) || same(actual.slice(1));
}

/**
 * True when `record.pid` is alive AND is still the process we started: same argv and, when known,
 * same start time. Anything else (gone, zombie, reused PID) is false, so it is never signalled.
 */
export function isOurProcess(record: ProcessRecord): boolean {
  const argv = readProcArgv(record.pid);
  if (!argv || !argvMatches(argv, record.argv)) return false;
  if (record.startTime !== null && readProcStartTime(record.pid) !== record.startTime) return false;
  return true;
}

export interface SpawnedService {
  record: ProcessRecord;
  /** Resolves with the exit code/signal if the process exits while we are still watching it. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts `argv` detached in its own process group with stdout+stderr appended to `logFile`, so it
 * outlives the `cgm services up` that started it and can be stopped as a group later.
 */
export function spawnDetached(opts: {
  name: string;
  argv: string[];
  cwd: string;
  logFile: string;
  env: NodeJS.ProcessEnv;
}): SpawnedService {
  const fd = openSync(opts.logFile, 'a');
  try {
    const [bin, ...args] = opts.argv;
    const child = spawn(bin!, args, {
      cwd: opts.cwd,
      env: opts.env,
      detached: true,
      stdio: ['ignore', fd, fd],
    });
    if (child.pid === undefined) {
      throw new Error(
        `could not start ${opts.name} (${bin}); is it installed? Run \`bash scripts/setup.sh\``,
      );
    }
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', () => resolve({ code: null, signal: null }));
    });
    child.unref();
    return {
      record: {
        name: opts.name,
        pid: child.pid,
        pgid: child.pid,
        argv: opts.argv,
        startTime: readProcStartTime(child.pid),
        logFile: opts.logFile,
      },
      exited,
    };
  } finally {
    closeSync(fd);
  }
}

function signalGroup(record: ProcessRecord, signal: NodeJS.Signals): void {
  try {
    process.kill(-record.pgid, signal);
  } catch {
    // The group may be gone already; fall back to the single process (still verified by caller).
    try {
      process.kill(record.pid, signal);
    } catch {
      /* already gone */
    }
  }
}

export type StopOutcome = 'stopped' | 'killed' | 'not-running';

/**
 * SIGTERM to the process group, SIGKILL after `graceMs`. Does nothing unless `isOurProcess` holds,
 * so a stale state file can never take down an unrelated process that inherited the PID.
 */
export async function stopProcess(record: ProcessRecord, graceMs = 15_000): Promise<StopOutcome> {
  if (!isOurProcess(record)) return 'not-running';
  signalGroup(record, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isOurProcess(record)) return 'stopped';
    await sleep(100);
  }
  if (isOurProcess(record)) signalGroup(record, 'SIGKILL');
  for (let i = 0; i < 50 && isOurProcess(record); i++) await sleep(100);
  return 'killed';
}

/** Last `lines` lines of a log file, for error messages. */
export function tailFile(path: string, lines = 30): string {
  try {
    const text = readFileSync(path, 'utf8');
    return text
      .split('\n')
      .slice(-lines - 1)
      .join('\n')
      .trimEnd();
  } catch {
    return '(no log)';
  }
}
