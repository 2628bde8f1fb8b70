// Ground truth for a street-world image's counterfactuals, joined to their evaluation records at report
// time: the batch manifest line carries the scene's truth (core/world/truth.ts); the run manifest says
// which do() each intervention is and which concept each CSG mask belongs to. Per evaluated record:
// the oracle's reading of the counterfactual against the SCM (intervened, descendants, non-descendants
// kept), PSNR/SSIM to the true counterfactual image and to the original, and the masks' share inside
// their concepts' regions. Records of other data sets, and failed records, pass through unchanged.
import type { ArtifactStore } from '../../core/artifacts/store.js';
import { baseMethod, type EvalRecord, type GroundTruth } from '../../core/eval/results.js';
import type { ArtifactRef } from '../../core/schemas/artifact.js';
import type { CsgEditPlan } from '../../core/schemas/edit-plan.js';
import type { ConceptGraph } from '../../core/schemas/paper.js';
import type { RunManifest } from '../../core/schemas/run-manifest.js';
import { decodeRgb, groundTruthScores, type RgbImage } from '../../core/world/ground-truth.js';
import type { WorldOracle } from '../../core/world/oracle.js';
import { counterfactual, type WorldDo, type WorldScm } from '../../core/world/scm.js';
import type { RegionRect, WorldTruth } from '../../core/world/truth.js';
import { attributeForConcept, valueForText } from '../../core/world/vlm-answers.js';

/** PSNR of identical images is infinite; records keep JSON numbers. */
const PSNR_CAP = 100;

export interface GroundTruthDeps {
  store: ArtifactStore;
  scm: WorldScm;
  /** Opened on first use (the batch may have no world image at all). */
  oracle: () => Promise<WorldOracle>;
}

/** The SCM attribute a concept of the run's graph stands for (by name, else by its value phrase). */
function attributeOf(scm: WorldScm, graph: ConceptGraph, conceptId: string) {
  const c = graph.concepts.find((x) => x.id === conceptId);
  if (!c) return undefined;
  return attributeForConcept(scm, c.name) ?? attributeForConcept(scm, c.current_value);
}

/** The run's intervention as a world do(); null when its target or value is not the world's. */
export function worldDoOf(
  scm: WorldScm,
  graph: ConceptGraph,
  target: string,
  newValue: string,
): WorldDo | null {
  const a = attributeOf(scm, graph, target);
  const value = a ? valueForText(a, newValue) : undefined;
  return a && value ? { [a.id]: value } : null;
}

/** Share of a mask's weight inside a rectangle given in `size`² image pixels, and the rectangle's area share. */
export function maskShare(mask: RgbImage, rect: RegionRect, size: number): { share: number; chance: number } {
  const sx = mask.width / size;
  const sy = mask.height / size;
  const [x0, y0, x1, y1] = [rect[0] * sx, rect[1] * sy, rect[2] * sx, rect[3] * sy];
  let inside = 0;
  let total = 0;
  for (let y = 0; y < mask.height; y++)
    for (let x = 0; x < mask.width; x++) {
      const v = mask.data[3 * (y * mask.width + x)];
      total += v;
      if (x + 0.5 >= x0 && x + 0.5 < x1 && y + 0.5 >= y0 && y + 0.5 < y1) inside += v;
    }
  const chance = ((x1 - x0) * (y1 - y0)) / (mask.width * mask.height);
  return { share: total === 0 ? 0 : inside / total, chance };
}

const mean = (xs: number[]) => (xs.length === 0 ? null : xs.reduce((s, x) => s + x, 0) / xs.length);

/** Adds `groundTruth` to the evaluated records of one run of a world image. */
export async function withGroundTruth(
  deps: GroundTruthDeps,
  records: EvalRecord[],
  manifest: RunManifest,
  truth: WorldTruth,
): Promise<EvalRecord[]> {
  const graph = manifest.graph?.graph;
  if (!graph || !records.some((r) => r.status === 'evaluated')) return records;
  const { store, scm } = deps;
  const images = new Map<string, Promise<RgbImage>>();
  const rgb = (ref: ArtifactRef) => {
    const key = `${ref.bucket}/${ref.key}`;
    if (!images.has(key)) images.set(key, store.get(ref).then(decodeRgb));
    return images.get(key)!;
  };
  const originalRef = manifest.input.preprocessed ?? manifest.input.image;
  const original = await rgb(originalRef);
  const size = original.width;
  const out: EvalRecord[] = [];
  for (const record of records) {
    if (record.status !== 'evaluated' || !record.image || record.image.kind !== 's3') {
      out.push(record);
      continue;
    }
    const iv = manifest.interventions.find((x) => x.intervention.id === record.interventionId)?.intervention;
    const doMap = iv ? worldDoOf(scm, graph, iv.target_concept_id, iv.new_value) : null;
    if (!iv || !doMap) {
      out.push(record); // not a do() of this world: nothing to score against
      continue;
    }
    const sameDo = (d: WorldDo) =>
      Object.keys(d).length === Object.keys(doMap).length && Object.keys(d).every((k) => d[k] === doMap[k]);
    const matched = truth.interventions.find((t) => sameDo(t.do));
    const trueAttributes = matched?.attributes ?? counterfactual(scm, truth.noise, doMap);
    // One download serves the oracle and the pixel scores.
    const bytes = await store.get(record.image.ref);
    const [reading] = await (await deps.oracle()).read([bytes]);
    const generated = await decodeRgb(bytes);
    const trueImage = matched?.image.kind === 's3' ? await rgb(matched.image.ref) : null;
    const scores = groundTruthScores({
      scm,
      original: truth.attributes,
      do: doMap,
      truth: trueAttributes,
      reading,
      generated,
      trueImage: trueImage ?? original,
      originalImage: original,
    });
    const plan = manifest.plans.find(
      (p): p is CsgEditPlan => p.method === 'csg' && p.interventionId === record.interventionId,
    );
    const output = manifest.outputs.find(
      (o) => o.interventionId === record.interventionId && o.method === baseMethod(record.method),
    );
    const groundTruth: GroundTruth = {
      sceneId: truth.sceneId,
      truthInterventionId: matched?.id ?? null,
      do: doMap,
      intervened: scores.intervened,
      descendants: scores.descendants,
      changedDescendants: scores.changedDescendants,
      preservation: scores.preservation,
      psnrToTrue: trueImage ? Math.min(PSNR_CAP, scores.psnrToTrue) : null,
      ssimToTrue: trueImage ? scores.ssimToTrue : null,
      psnrToOriginal: Math.min(PSNR_CAP, scores.psnrToOriginal),
      ssimToOriginal: scores.ssimToOriginal,
      masks: plan && output ? await maskScores(plan, output.masks) : null,
      oracle: Object.fromEntries(Object.entries(reading).map(([k, r]) => [k, r.value])),
      ...(matched ? { trueImage: matched.image } : {}),
    };
    out.push({ ...record, groundTruth });
  }
  return out;

  async function maskScores(plan: CsgEditPlan, masks: readonly ArtifactRef[]) {
    const by = { intervened: [] as number[], descendant: [] as number[] };
    const chance = { intervened: [] as number[], descendant: [] as number[] };
    for (const [k, concept] of plan.concepts.entries()) {
      if (concept.reverse || !masks[k] || concept.role === 'non_descendant_extra') continue;
      const region = attributeOf(scm, graph!, concept.conceptId)?.region;
      const rect = region ? truth.regions[region] : undefined;
      if (!rect) continue;
      const s = maskShare(await rgb(masks[k]), rect, size);
      by[concept.role].push(s.share);
      chance[concept.role].push(s.chance);
    }
    if (by.intervened.length + by.descendant.length === 0) return null;
    return {
      intervened: mean(by.intervened),
      intervenedChance: mean(chance.intervened),
      descendants: mean(by.descendant),
      descendantsChance: mean(chance.descendant),
    };
  }
}
