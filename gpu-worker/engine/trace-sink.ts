// Where --trace tensors go (trace-writer.ts writes them as .npy). Names follow the export tool's reference
// traces: families `ledits` (CSG), `efddpm` (DDPM baseline), `ddim`; per-intervention tensors under
// `<family>/<interventionId>/`. `step` records one step of a series stacked on a leading step axis.
import type { EditMethod } from '../../core/schemas/edit-plan.js';
import type { Tensor } from './tensor.js';

export interface TraceSink {
  tensor(name: string, value: Tensor, description?: string): void;
  step(name: string, index: number, length: number, value: Tensor, description?: string): void;
  ints(name: string, values: ArrayLike<number>, description?: string): void;
}

export const TRACE_FAMILY: Record<EditMethod, string> = { csg: 'ledits', ddpm: 'efddpm', ddim: 'ddim' };

/** Trace names use the intervention id with anything outside [A-Za-z0-9_.-] replaced. */
export const traceId = (id: string) => id.replace(/[^A-Za-z0-9_.-]/g, '_');
