// The ground truth a street-world image carries through a batch (on its batch manifest line): the
// scene's attributes, its exogenous noise U, each attribute region's rectangle, and every data set
// intervention with the SCM's counterfactual attributes and the true counterfactual image (the same U
// rendered under the do()). Images are local paths inside the data set folder before upload, S3 refs after.
import { z } from 'zod';
import { BatchImageSchema } from '../eval/batch-image.js';
import type { WorldScene } from './dataset.js';

const Attributes = z.record(z.string(), z.string());
/** [x0, y0, x1, y1) in the image's pixels (world/cgm_world/render.py regions()). */
export const RegionRectSchema = z.tuple([z.number(), z.number(), z.number(), z.number()]);
export type RegionRect = z.infer<typeof RegionRectSchema>;

export const WorldTruthSchema = z.object({
  sceneId: z.string().min(1),
  attributes: Attributes,
  noise: z.record(z.string(), z.number().min(0).lt(1)),
  regions: z.record(z.string(), RegionRectSchema),
  interventions: z
    .array(
      z.object({
        id: z.string().min(1),
        kind: z.string().min(1),
        do: Attributes,
        /** The SCM's counterfactual of do() with the scene's own noise. */
        attributes: Attributes,
        /** The true counterfactual image. */
        image: BatchImageSchema,
      }),
    )
    .min(1),
});
export type WorldTruth = z.infer<typeof WorldTruthSchema>;

/** A loaded data set scene's truth, its images as paths relative to the data set folder. */
export function truthOfScene(scene: WorldScene): WorldTruth {
  return {
    sceneId: scene.id,
    attributes: scene.attributes,
    noise: scene.u.noise,
    regions: scene.regions,
    interventions: scene.interventions.map((iv) => ({
      id: iv.id,
      kind: iv.kind,
      do: iv.do,
      attributes: iv.attributes,
      image: { kind: 'local', path: iv.image },
    })),
  };
}
