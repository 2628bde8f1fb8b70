// The engine-thread side: serve jobs one at a time with the handlers a module registers.
import { parentPort } from 'node:worker_threads';
import {
  EngineAbortError,
  type JobHandlers,
  type JobMessage,
  type ThreadMessage,
} from './thread-protocol.js';

export function serveJobs(handlers: JobHandlers): void {
  const port = parentPort;
  if (!port) throw new Error('serveJobs must run inside a worker thread');
  const send = (m: ThreadMessage) => port.postMessage(m);
  let queue = Promise.resolve();
  port.on('message', (msg: JobMessage) => {
    if (msg?.type !== 'job') return;
    // One job at a time: the GPU (or the CPU cores) is the shared resource.
    queue = queue.then(() => runJob(msg));
  });
  const runJob = async (msg: JobMessage) => {
    const ctx = {
      progress: (event: unknown) => send({ type: 'progress', id: msg.id, event }),
      get aborted() {
        return Atomics.load(msg.abortFlag, 0) === 1;
      },
      throwIfAborted() {
        if (Atomics.load(msg.abortFlag, 0) === 1) throw new EngineAbortError();
      },
    };
    const handler = handlers[msg.kind];
    try {
      if (!handler) throw new Error(`engine thread has no handler for job kind '${msg.kind}'`);
      ctx.throwIfAborted();
      send({ type: 'result', id: msg.id, result: await handler(msg.payload, ctx) });
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      send({
        type: 'error',
        id: msg.id,
        name: e.name,
        message: e.message,
        stack: e.stack,
        aborted: ctx.aborted,
      });
    }
  };
  send({ type: 'ready' });
}
