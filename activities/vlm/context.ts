// What every VLM function needs: the transport (settings inside), and optionally a cancellation
// signal (Temporal's, in an activity) and a clock for the attempt records.
import type { VlmTransport } from './client.js';

export interface VlmContext {
  transport: VlmTransport;
  signal?: AbortSignal;
  now?: () => number;
}
