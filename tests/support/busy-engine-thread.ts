// A stand-in engine thread for host tests: each "step" blocks its thread like session.run does.
import { serveJobs } from '../../gpu-worker/engine/thread-runtime.js';

function blockFor(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    // busy: no event-loop turn, like a synchronous native call
  }
}

serveJobs({
  async steps(payload, ctx) {
    const { steps, msPerStep } = payload as { steps: number; msPerStep: number };
    let done = 0;
    for (let i = 0; i < steps; i++) {
      ctx.throwIfAborted();
      blockFor(msPerStep);
      done++;
      ctx.progress({ step: done, total: steps });
    }
    return { done };
  },
  async fail() {
    throw new RangeError('bad latent shape');
  },
  async sum(payload) {
    const data = new Float32Array(payload as ArrayBuffer);
    return data.reduce((a, b) => a + b, 0);
  },
});
