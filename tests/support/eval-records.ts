// An evaluated counterfactual with one intervened-concept check, for report tests.
import type { EvalRecord } from '../../core/eval/results.js';

export interface OneCheckRecord {
  method: string;
  dataset: 'coco' | 'celeba-hq' | 'world';
  imageId: string;
  /** The judge saw the intervened value (VLM-Eff 1) or not (0). */
  yes: boolean;
  lpips: number;
  resolution: number;
  nfe?: number;
  seconds?: number;
}

export function oneCheckRecord(r: OneCheckRecord): EvalRecord {
  return {
    schemaVersion: 1,
    batchId: 'b',
    dataset: r.dataset,
    imageId: r.imageId,
    interventionId: 'i1',
    method: r.method,
    status: 'evaluated',
    verdict: r.yes ? 'success' : 'failure',
    reasoning: '',
    checks: [
      {
        conceptId: 'c1',
        concept_name: 'a',
        expected_value: 'v',
        nodeType: 'intervened',
        present: r.yes ? 'yes' : 'no',
        answered: true,
      },
    ],
    vlmEff: r.yes ? 1 : 0,
    mustStayRate: null,
    lpips: r.lpips,
    lpipsResolution: { width: r.resolution, height: r.resolution },
    nfe: r.nfe ?? 1,
    seconds: r.seconds ?? 1,
  };
}
