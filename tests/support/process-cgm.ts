// `cgm …` as a real child process for integration tests and benches: its output kept for assertions
// and failure messages, bounded waits for a log line, and a stop that escalates to SIGKILL so a test
// never leaves a process behind.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readProcArgv } from '../../infra/local/processes.js';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = `${REPO_ROOT}bin/cgm.mjs`;

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface CgmProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** Everything written to stdout so far. */
  stdout(): string;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Resolves with the first match of `pattern` in stdout+stderr; rejects on exit or after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  readonly exited: Promise<Exit>;
  /** Sends `signal`, then SIGKILL after `graceMs` if still running; resolves once the process is gone. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<Exit>;
}

/** Starts `node bin/cgm.mjs <args>` (the real command) with `env`. */
export function spawnCgm(name: string, args: string[], env: NodeJS.ProcessEnv): CgmProcess {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`could not start cgm ${args.join(' ')}`);
  let out = '';
  let err = '';
  const listeners = new Set<() => void>();
  const changed = () => {
    for (const l of listeners) l();
  };
  child.stdout?.on('data', (d: Buffer) => {
    out += String(d);
    changed();
  });
  child.stderr?.on('data', (d: Buffer) => {
    err += String(d);
    changed();
  });
  const exited = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => {
      resolve({ code, signal });
      changed();
    });
  });
  const running = () => child.exitCode === null && child.signalCode === null;

  return {
    name,
    child,
    pid: child.pid,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor(pattern, timeoutMs) {
      return new Promise((resolve, reject) => {
        const done = (fn: () => void) => {
          clearTimeout(timer);
          listeners.delete(check);
          fn();
        };
        const check = () => {
          const m = `${out}\n${err}`.match(pattern);
          if (m) return done(() => resolve(m));
          if (!running())
            done(() => reject(new Error(`${name} exited before printing ${pattern}:\n${tail(out, err)}`)));
        };
        const timer = setTimeout(
          () =>
            done(() =>
              reject(new Error(`${name}: no ${pattern} within ${timeoutMs} ms:\n${tail(out, err)}`)),
            ),
          timeoutMs,
        );
        listeners.add(check);
        check();
      });
    },
    async stop(signal = 'SIGTERM', graceMs = 30_000) {
      if (running()) {
        child.kill(signal);
        const timer = setTimeout(() => {
          if (running()) child.kill('SIGKILL');
        }, graceMs);
        const exit = await exited;
        clearTimeout(timer);
        return exit;
      }
      return exited;
    },
  };
}

function tail(out: string, err: string): string {
  return `--- stdout ---\n${out.slice(-3000)}\n--- stderr ---\n${err.slice(-3000)}`;
}

/** True while `pid` is a live process (a zombie or a missing entry in /proc counts as gone). */
export function isAlive(pid: number): boolean {
  return readProcArgv(pid) !== null;
}
