// Child processes of the demos: `cgm worker light|gpu`, `cgm world vlm` and one-shot cgm commands, each a
// real process configured through CGM_* variables only, as in production.
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../infra/local/services.js';
import { CliError } from '../cli-error.js';

export const CLI = join(REPO_ROOT, 'bin/cgm.mjs');

/**
 * A worker's log line for the terminal: warnings, errors and non-JSON output (a crash), but not the
 * SDK's warning that a GPU worker registers no workflows (it serves activities only, by design).
 */
function worthShowing(line: string): boolean {
  if (line === '' || /^\{"level":"(info|debug|trace)"/.test(line)) return false;
  return !line.includes('No workflows registered, not polling for workflow tasks');
}

/**
 * `cgm worker light|gpu` as a process; resolves once it polls. Its JSON log goes whole to `logFile`;
 * the terminal shows only its warnings, errors and anything that is not a log line (a crash).
 */
export function startWorker(
  kind: 'light' | 'gpu',
  env: NodeJS.ProcessEnv,
  logFile: string,
  args: readonly string[] = [],
): Promise<ChildProcess> {
  const child = spawn(process.execPath, [CLI, 'worker', kind, ...args], {
    env,
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  const file = createWriteStream(logFile, { flags: 'a' });
  child.once('exit', () => file.end());
  return new Promise((ready, fail) => {
    let text = '';
    let partial = '';
    child.stderr?.on('data', (d: Buffer) => {
      file.write(d);
      text += String(d);
      const lines = (partial + String(d)).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (worthShowing(line)) process.stderr.write(`${line}\n`);
      if (/polling|gpu worker: model/.test(text)) ready(child);
    });
    child.once('exit', (code) =>
      fail(new CliError(`cgm worker ${kind} exited with code ${code}; its log: ${logFile}`, 1)),
    );
  });
}

/** `cgm world vlm --port 0 …` as a server process; resolves with it and the base URL it printed. */
export function startWorldVlm(args: readonly string[]): Promise<{ child: ChildProcess; baseURL: string }> {
  const child = spawn(process.execPath, [CLI, 'world', 'vlm', '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((ready, fail) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += String(d);
      const url = out.match(/http:\/\/127\.0\.0\.1:\d+\/v1/);
      if (url) ready({ child, baseURL: url[0] });
    });
    // one JSON line per request: kept out of the demo's output
    child.stderr?.resume();
    child.once('exit', (code) => fail(new CliError(`cgm world vlm exited with code ${code}`, 1)));
  });
}

export async function stopProcesses(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((done) => {
          if (child.exitCode !== null || child.signalCode !== null) return done();
          child.once('exit', () => done());
          child.kill('SIGTERM');
          setTimeout(() => child.kill('SIGKILL'), 30_000).unref();
        }),
    ),
  );
}

/** Runs a cgm command with its progress on stderr and returns its stdout. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += String(d);
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0
        ? resolvePromise(out)
        : reject(new CliError(`cgm ${args[0]} failed with exit code ${code}`, 1)),
    );
  });
}
