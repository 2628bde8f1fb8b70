// What the API needs from the workflow engine, so the HTTP layer can be tested without Temporal.
// The Temporal implementation is runs/temporal.ts; runs/memory.ts keeps runs in a Map. One starter
// serves one workflow type: counterfactual runs (CounterfactualInput) or batches (BatchInput).
import type { CounterfactualInput } from '../../core/schemas/workflow-io.js';
import type { RunStatusValue } from '../schemas.js';

/** Stored with the run (a Temporal memo): who started it and the fingerprint of the request. */
export interface RunMemo {
  /** sha256 of the canonical request (image by sha256); equal bodies ↔ equal fingerprints. */
  fingerprint: string;
  /** Key id of the caller; other keys see 404. */
  owner: string;
}

export interface RunInfo {
  id: string;
  status: RunStatusValue;
  createdAt: string | null;
  closedAt: string | null;
  memo: RunMemo | null;
}

export type RunOutcome =
  | { kind: 'pending' }
  | { kind: 'result'; value: unknown }
  | { kind: 'error'; message: string; type: string | null };

export interface RunStarter<Input = CounterfactualInput> {
  /** 'exists' when a run with this id was started before (open or closed): nothing new starts. */
  start(id: string, input: Input, memo: RunMemo): Promise<'started' | 'exists'>;
  describe(id: string): Promise<RunInfo | null>;
  /** The progress query's answer, or null when the run cannot answer now. */
  progress(id: string): Promise<unknown>;
  outcome(id: string): Promise<RunOutcome>;
  /** Requests cancellation of an open run. */
  cancel(id: string): Promise<void>;
}
