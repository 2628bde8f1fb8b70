// Runs kept in a Map: for app.request() tests of the HTTP behaviour and for trying the API without
// Temporal. Runs stay 'running' until a test settles them with finish()/fail().
import type { CounterfactualInput } from '../../core/schemas/workflow-io.js';
import type { RunInfo, RunMemo, RunOutcome, RunStarter } from './types.js';

export interface MemoryRun<Input = CounterfactualInput> {
  info: RunInfo;
  input: Input;
  progress: unknown;
  outcome: RunOutcome;
  cancelRequested: boolean;
}

export interface MemoryRunStarter<Input = CounterfactualInput> extends RunStarter<Input> {
  readonly runs: Map<string, MemoryRun<Input>>;
  finish(id: string, value: unknown): void;
  fail(id: string, message: string, type?: string): void;
  setProgress(id: string, progress: unknown): void;
}

export function createMemoryRunStarter<Input = CounterfactualInput>(
  now: () => number = Date.now,
): MemoryRunStarter<Input> {
  const runs = new Map<string, MemoryRun<Input>>();
  const get = (id: string) => {
    const r = runs.get(id);
    if (!r) throw new Error(`no run ${id}`);
    return r;
  };
  return {
    runs,
    async start(id: string, input: Input, memo: RunMemo) {
      if (runs.has(id)) return 'exists';
      runs.set(id, {
        info: { id, status: 'running', createdAt: new Date(now()).toISOString(), closedAt: null, memo },
        input,
        progress: null,
        outcome: { kind: 'pending' },
        cancelRequested: false,
      });
      return 'started';
    },
    async describe(id) {
      const r = runs.get(id);
      return r ? { ...r.info } : null;
    },
    async progress(id) {
      return runs.get(id)?.progress ?? null;
    },
    async outcome(id) {
      return get(id).outcome;
    },
    async cancel(id) {
      const r = get(id);
      r.cancelRequested = true;
      r.info = { ...r.info, status: 'cancelled', closedAt: new Date(now()).toISOString() };
      r.outcome = { kind: 'error', message: 'cancelled', type: 'CancelledFailure' };
    },
    finish(id, value) {
      const r = get(id);
      r.info = { ...r.info, status: 'succeeded', closedAt: new Date(now()).toISOString() };
      r.outcome = { kind: 'result', value };
    },
    fail(id, message, type = 'ApplicationFailure') {
      const r = get(id);
      r.info = { ...r.info, status: 'failed', closedAt: new Date(now()).toISOString() };
      r.outcome = { kind: 'error', message, type };
    },
    setProgress(id, progress) {
      get(id).progress = progress;
    },
  };
}
