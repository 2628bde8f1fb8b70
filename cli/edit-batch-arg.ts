// `--edit-batch N` of `cgm run` and `cgm batch`: how many edits of one method the workflow sends to the
// GPU host in one call (core/schemas/workflow-io.ts EditBatchSchema), checked before anything is stored.
import { MAX_EDIT_BATCH_PLANS } from '../core/schemas/workflow-io.js';
import { CliError } from './cli-error.js';

export function parseEditBatch(text: string): { maxPlans: number } {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || n < 1 || n > MAX_EDIT_BATCH_PLANS) {
    throw new CliError(
      `--edit-batch: expected a whole number of plans per GPU call in [1, ${MAX_EDIT_BATCH_PLANS}] (the UNet batch, and GPU memory, grow with it), got '${text}'`,
      2,
    );
  }
  return { maxPlans: n };
}
