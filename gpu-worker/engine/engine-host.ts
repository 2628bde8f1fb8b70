// The main-thread side of the engine: owns one worker thread, sends it jobs, relays progress, and
// turns an AbortSignal into the shared cancel flag. session.run blocks its thread, so keeping ONNX
// Runtime off the main thread is what lets the Temporal worker heartbeat during a long edit.
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { EngineAbortError, type JobId, type ThreadMessage } from './thread-protocol.js';

export interface RunOptions {
  signal?: AbortSignal;
  onProgress?: (event: unknown) => void;
  /** ArrayBuffers to move rather than copy into the thread. */
  transfer?: ArrayBuffer[];
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
  onProgress?: (event: unknown) => void;
  cleanup(): void;
}

export class EngineHost {
  private nextId: JobId = 1;
  private readonly pending = new Map<JobId, Pending>();
  private exitError: Error | null = null;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (m: ThreadMessage) => this.onMessage(m));
    worker.on('error', (err) => this.failAll(err));
    worker.on('exit', (code) => this.failAll(new Error(`engine thread exited with code ${code}`)));
  }

  /** Starts a thread that imports `entry` (a module calling serveJobs) and waits until it is ready. */
  static async start(entry: string | URL): Promise<EngineHost> {
    const entryPath = entry instanceof URL ? fileURLToPath(entry) : entry;
    const worker = new Worker(new URL('./thread-boot.mjs', import.meta.url), {
      workerData: { entry: entryPath },
    });
    await new Promise<void>((resolve, reject) => {
      const onMessage = (m: ThreadMessage) => {
        if (m.type === 'ready') {
          worker.off('message', onMessage);
          worker.off('error', reject);
          resolve();
        }
      };
      worker.on('message', onMessage);
      worker.once('error', reject);
    });
    return new EngineHost(worker);
  }

  run<T>(kind: string, payload: unknown, options: RunOptions = {}): Promise<T> {
    if (this.exitError) return Promise.reject(this.exitError);
    const id = this.nextId++;
    const abortFlag = new Int32Array(new SharedArrayBuffer(4));
    const onAbort = () => Atomics.store(abortFlag, 0, 1);
    if (options.signal?.aborted) return Promise.reject(new EngineAbortError());
    options.signal?.addEventListener('abort', onAbort, { once: true });
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, {
        resolve: resolve as (v: unknown) => void,
        reject,
        onProgress: options.onProgress,
        cleanup: () => options.signal?.removeEventListener('abort', onAbort),
      });
      this.worker.postMessage({ type: 'job', id, kind, payload, abortFlag }, options.transfer ?? []);
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }

  private onMessage(m: ThreadMessage): void {
    if (m.type === 'ready') return;
    const p = this.pending.get(m.id);
    if (!p) return;
    if (m.type === 'progress') {
      p.onProgress?.(m.event);
      return;
    }
    this.pending.delete(m.id);
    p.cleanup();
    if (m.type === 'result') {
      p.resolve(m.result);
    } else {
      const err = m.aborted ? new EngineAbortError(m.message) : new Error(m.message);
      if (!m.aborted) err.name = m.name;
      if (m.stack) err.stack = m.stack;
      p.reject(err);
    }
  }

  private failAll(err: Error): void {
    this.exitError = err;
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.cleanup();
      p.reject(err);
    }
  }
}
