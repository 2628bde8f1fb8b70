// One `cgm …` child of `cgm dev`: started in its own process group (a Ctrl-C in the terminal reaches only
// `cgm dev`, which then stops its children in order, each exactly once), every output line appended to
// its log file and, unless quiet, echoed to the terminal behind a `[name]` prefix.
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { createInterface } from 'node:readline';

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SupervisedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Resolves with the first match of `ready` in the output; rejects if the process exits first or on timeout. */
  readonly ready: Promise<RegExpMatchArray>;
  readonly exited: Promise<ChildExit>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone and its log is flushed. */
  stop(graceMs: number): Promise<ChildExit>;
}

export interface SuperviseOptions {
  name: string;
  /** argv after the node executable, e.g. [bin/cgm.mjs, 'worker', 'gpu']. */
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  logFile: string;
  ready: RegExp;
  readyTimeoutMs: number;
  /** Echo each line to stderr as `[name] line`. */
  echo: boolean;
}

export function superviseProcess(opts: SuperviseOptions): SupervisedProcess {
  const log: WriteStream = createWriteStream(opts.logFile, { flags: 'a' });
  log.write(`--- ${new Date().toISOString()} started ${opts.args.slice(1).join(' ')}\n`);
  const child: ChildProcess = spawn(process.execPath, opts.args, {
    cwd: opts.cwd,
    env: opts.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) {
    log.end();
    throw new Error(`could not start ${opts.name} (${opts.args.join(' ')})`);
  }
  const pid = child.pid;

  let text = '';
  let onLine: (() => void) | null = null;
  const streamsClosed: Promise<void>[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    const lines = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
    lines.on('line', (line) => {
      log.write(`${line}\n`);
      if (opts.echo) process.stderr.write(`[${opts.name}] ${line}\n`);
      // Only the start-up lines matter for readiness; keep the buffer from growing for hours.
      if (onLine) {
        text += `${line}\n`;
        onLine();
      }
    });
    streamsClosed.push(new Promise((r) => lines.once('close', () => r())));
  }

  const exited = new Promise<ChildExit>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const flushed = exited.then(async (exit) => {
    await Promise.all(streamsClosed);
    await new Promise<void>((r) => log.end(r));
    return exit;
  });

  const ready = new Promise<RegExpMatchArray>((resolve, reject) => {
    const finish = (fn: () => void) => {
      clearTimeout(timer);
      onLine = null;
      text = '';
      fn();
    };
    const timer = setTimeout(
      () =>
        finish(() =>
          reject(new Error(`${opts.name} not ready within ${opts.readyTimeoutMs} ms; see ${opts.logFile}`)),
        ),
      opts.readyTimeoutMs,
    );
    onLine = () => {
      const m = text.match(opts.ready);
      if (m) finish(() => resolve(m));
    };
    void exited.then((e) =>
      finish(() =>
        reject(
          new Error(
            `${opts.name} exited during start-up (code ${e.code}, signal ${e.signal}); see ${opts.logFile}`,
          ),
        ),
      ),
    );
  });
  ready.catch(() => {}); // observed by the caller; never an unhandled rejection

  const running = () => child.exitCode === null && child.signalCode === null;
  return {
    name: opts.name,
    pid,
    logFile: opts.logFile,
    ready,
    exited,
    async stop(graceMs) {
      if (running()) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => {
          if (running()) child.kill('SIGKILL');
        }, graceMs);
        const exit = await flushed;
        clearTimeout(timer);
        return exit;
      }
      return flushed;
    },
  };
}
