// Abduction for the street world: the exogenous noise U that explains observed attributes, and
// counterfactual propagation from an observation (the world VLM's answer to "what else changes").
//
// Each attribute's mechanism (core/world/scm.ts) takes its parents' table row and returns the first value
// v with u < the running sum of p up to v. So, given its observed parents, an observed value v pins u to
// the interval [sum of p before v, that sum + p(v)) — to 1 for the last value with p > 0, which also
// takes the rounding fallback. Abduction here takes each interval's midpoint: any u in it reproduces the
// observation, and the midpoint is the choice that does not lean towards either neighbouring value.
// An observation the SCM gives probability 0 (p(v) = 0 under the observed parents, e.g. a misread
// image) has no consistent u; its u is then 0.5 and the attribute is listed as inconsistent.
import {
  attributeOrder,
  changedAttributes,
  checkAttributes,
  checkDo,
  descendants,
  solve,
  type WorldAttribute,
  type WorldAttributes,
  type WorldDo,
  type WorldNoise,
  type WorldScm,
} from './scm.js';

/** The u values consistent with one observed attribute: [lo, hi); empty (lo === hi) when inconsistent. */
export interface NoiseInterval {
  readonly lo: number;
  readonly hi: number;
  /** False when the observed value has probability 0 given the observed parents. */
  readonly consistent: boolean;
}

export interface Abduction {
  /** Midpoint of each attribute's interval (0.5 where inconsistent). */
  readonly noise: WorldNoise;
  readonly intervals: Readonly<Record<string, NoiseInterval>>;
  /** Attributes whose observed value the SCM cannot produce from the observed parents. */
  readonly inconsistent: readonly string[];
}

/** u used for an attribute whose observation has no consistent u. */
export const INCONSISTENT_NOISE = 0.5;

const prob = (p: Record<string, number>, value: string) => (Object.hasOwn(p, value) ? p[value] : 0);

/** The interval of u for which `a`'s mechanism gives `value` under `parents` (same sums as solve()). */
export function noiseInterval(a: WorldAttribute, parents: WorldAttributes, value: string): NoiseInterval {
  const row = a.table.find((r) => Object.entries(r.when).every(([k, v]) => parents[k] === v));
  if (!row) return { lo: 0, hi: 0, consistent: false };
  let lo = 0;
  for (const v of a.values) {
    if (v === value) break;
    lo += prob(row.p, v);
  }
  const p = prob(row.p, value);
  if (!(p > 0)) return { lo, hi: lo, consistent: false };
  const lastPositive = [...a.values].reverse().find((v) => prob(row.p, v) > 0);
  const hi = value === lastPositive ? 1 : lo + p;
  return { lo, hi, consistent: hi > lo };
}

/** Per attribute the interval of consistent u given the observed attributes, and its midpoint. */
export function abduceNoise(scm: WorldScm, observed: WorldAttributes): Abduction {
  checkAttributes(scm, observed);
  const noise: WorldNoise = {};
  const intervals: Record<string, NoiseInterval> = {};
  const inconsistent: string[] = [];
  for (const a of scm.attributes) {
    const parents = Object.fromEntries(a.parents.map((p) => [p, observed[p]]));
    const interval = noiseInterval(a, parents, observed[a.id]);
    intervals[a.id] = interval;
    if (interval.consistent) noise[a.id] = (interval.lo + interval.hi) / 2;
    else {
      noise[a.id] = INCONSISTENT_NOISE;
      inconsistent.push(a.id);
    }
  }
  return { noise, intervals, inconsistent: attributeOrder(scm).filter((id) => inconsistent.includes(id)) };
}

export interface Propagation {
  /** Every attribute after do(). */
  readonly attributes: WorldAttributes;
  /** Attributes whose value differs from the observation (the do() targets included), in solving order. */
  readonly changed: readonly string[];
}

/**
 * The counterfactual of an observed scene under `doMap` with noise `noise`: the do() targets take their
 * values, their descendants are recomputed by the SCM's mechanisms with that noise, every other
 * attribute keeps its observed value. When the noise reproduces the observation (abduceNoise of a
 * consistent observation, or a data set scene's true U) this is exactly counterfactual(scm, noise, doMap);
 * holding the non-descendants also keeps a misread attribute from "changing" outside De(target).
 */
export function propagateDo(
  scm: WorldScm,
  observed: WorldAttributes,
  noise: WorldNoise,
  doMap: WorldDo,
): Propagation {
  checkAttributes(scm, observed);
  checkDo(scm, doMap);
  const moved = new Set(Object.keys(doMap).flatMap((id) => [id, ...descendants(scm, id)]));
  const held = Object.fromEntries(
    scm.attributes.filter((a) => !moved.has(a.id)).map((a) => [a.id, observed[a.id]]),
  );
  const attributes = solve(scm, noise, { ...held, ...doMap });
  return { attributes, changed: changedAttributes(scm, observed, attributes) };
}
