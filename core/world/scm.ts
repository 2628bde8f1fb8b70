// The structural causal model of the procedural street world (world/scm.json): its schema, exact solving
// with the same exogenous noise (counterfactuals), descendants, `do` checks, and the scene as a concept
// graph in the paper's Fig. 2 format.
//
// The rule is the one of world/cgm_world/scm.py and must stay identical: attributes are solved in a
// stable topological order (repeatedly take, in file order, every pending attribute whose parents are
// done); each takes the table row its parents' values match and, with its noise u in [0, 1), the first
// value v (in `values` order) with u < the running sum of p up to v (missing p = 0), else (u beyond the
// rounding of the sum) the last value with p > 0. `do` sets the named attributes; everything else is
// recomputed from the same noise.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { reach } from '../graph/dag.js';
import type { ConceptGraph } from '../schemas/paper.js';
import { formatZodPath } from '../schemas/zod-path.js';
import { WorldInputError } from './errors.js';

export { WorldInputError } from './errors.js';

export const DEFAULT_SCM_PATH = fileURLToPath(new URL('../../world/scm.json', import.meta.url));

/** How far a table row's probabilities may sum from 1. */
export const P_SUM_TOLERANCE = 1e-6;

const ID_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

const nonEmpty = (what: string) => z.string().min(1, `${what} must be a non-empty string`);
const trimmed = (what: string) =>
  nonEmpty(what).refine((s) => s.trim() === s, `${what} must not start or end with white space`);

const TableRowSchema = z.object({
  /** Parent id → parent value; exactly the attribute's parents. */
  when: z.record(z.string(), z.string()),
  /** Value → probability; missing values have probability 0. */
  p: z.record(z.string(), z.number().nonnegative('probabilities must be >= 0')),
});

const WorldAttributeSchema = z.object({
  id: z.string().regex(ID_PATTERN, 'attribute id must be an identifier (letters, digits, _)'),
  name: trimmed('name'),
  description: z.string(),
  values: z.array(trimmed('value')).min(1, 'values must list at least one value'),
  /** Value → concept phrase, e.g. wet → "wet road". */
  phrases: z.record(z.string(), trimmed('phrase')),
  parents: z.array(z.string()),
  table: z.array(TableRowSchema).min(1, 'table must have at least one row'),
  /** Where the attribute is drawn in the image (null: the whole scene). */
  region: z.string().nullable(),
});

/** world/scm.json; the cross-field rules (ids, phrases, parents, table rows, acyclicity) are checked too. */
const WorldScmFieldsSchema = z.object({
  name: z.string(),
  description: z.string(),
  imageSize: z.number().int().positive(),
  attributes: z.array(WorldAttributeSchema).min(1, 'an SCM needs at least one attribute'),
});

export const WorldScmSchema = WorldScmFieldsSchema.superRefine((scm, ctx) => {
  for (const { path, message } of scmRuleIssues(scm)) ctx.addIssue({ code: 'custom', path, message });
});

export type WorldScm = z.output<typeof WorldScmSchema>;
export type WorldAttribute = z.output<typeof WorldAttributeSchema>;
/** Attribute id → exogenous noise u in [0, 1). */
export type WorldNoise = Record<string, number>;
/** Attribute id → value set by the intervention. */
export type WorldDo = Record<string, string>;
/** Attribute id → value. */
export type WorldAttributes = Record<string, string>;

type RuleIssue = { path: (string | number)[]; message: string };

const list = (items: readonly string[]) => items.join(', ');
const quoted = (items: readonly string[]) => items.map((s) => `'${s}'`).join(', ');
const show = (value: unknown) => (typeof value === 'string' ? `'${value}'` : JSON.stringify(value));
const own = (record: object, key: string) => Object.hasOwn(record, key);
const prob = (p: Record<string, number>, value: string) => (own(p, value) ? p[value] : 0);
const combo = (when: Record<string, string>) =>
  Object.keys(when).length === 0
    ? '(no parents)'
    : Object.entries(when)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ');

/** Positions of every item that occurs more than once, per item. */
function repeats(items: readonly string[]): Map<string, number[]> {
  const at = new Map<string, number[]>();
  for (const [i, item] of items.entries()) at.set(item, [...(at.get(item) ?? []), i]);
  return new Map([...at].filter(([, positions]) => positions.length > 1));
}

function scmRuleIssues(scm: z.output<typeof WorldScmFieldsSchema>): RuleIssue[] {
  const issues: RuleIssue[] = [];
  const ids = scm.attributes.map((a) => a.id);
  for (const [id, at] of repeats(ids))
    for (const i of at.slice(1))
      issues.push({
        path: ['attributes', i, 'id'],
        message: `attribute id '${id}' is used ${at.length} times (${at.map((j) => `attributes[${j}]`).join(', ')}); ids must be unique`,
      });
  const byId = new Map(scm.attributes.map((a) => [a.id, a]));

  for (const [i, a] of scm.attributes.entries()) {
    const at = (...rest: (string | number)[]) => ['attributes', i, ...rest];
    for (const [value, positions] of repeats(a.values))
      issues.push({ path: at('values'), message: `value '${value}' is listed ${positions.length} times` });
    for (const value of a.values)
      if (!own(a.phrases, value))
        issues.push({ path: at('phrases'), message: `no phrase for value '${value}'` });
    for (const key of Object.keys(a.phrases))
      if (!a.values.includes(key))
        issues.push({
          path: at('phrases', key),
          message: `phrase for '${key}', which is not a value; expected one of ${list(a.values)}`,
        });

    let parentsOk = true;
    for (const [j, parent] of a.parents.entries()) {
      if (!byId.has(parent)) {
        parentsOk = false;
        issues.push({
          path: at('parents', j),
          message: `unknown parent '${parent}'; expected one of ${list(ids)}`,
        });
      }
    }
    for (const [parent] of repeats(a.parents)) {
      parentsOk = false;
      issues.push({ path: at('parents'), message: `parent '${parent}' is listed more than once` });
    }

    for (const [r, row] of a.table.entries()) {
      for (const value of Object.keys(row.p))
        if (!a.values.includes(value))
          issues.push({
            path: at('table', r, 'p', value),
            message: `probability for '${value}', which is not a value; expected one of ${list(a.values)}`,
          });
      let sum = 0;
      for (const value of a.values) sum += prob(row.p, value);
      if (Math.abs(sum - 1) > P_SUM_TOLERANCE)
        issues.push({
          path: at('table', r, 'p'),
          message: `probabilities of the row for ${combo(row.when)} sum to ${sum}; expected 1 (within ${P_SUM_TOLERANCE})`,
        });
    }
    if (parentsOk) issues.push(...tableCoverageIssues(a, byId, at));
  }

  issues.push(...cycleIssues(scm.attributes));
  return issues;
}

/** Every row names exactly the parents with allowed values; every parent combination has exactly one row. */
function tableCoverageIssues(
  a: WorldAttribute,
  byId: Map<string, WorldAttribute>,
  at: (...rest: (string | number)[]) => (string | number)[],
): RuleIssue[] {
  const issues: RuleIssue[] = [];
  const wellFormed: number[] = [];
  for (const [r, row] of a.table.entries()) {
    const before = issues.length;
    for (const [key, value] of Object.entries(row.when)) {
      if (!a.parents.includes(key)) {
        issues.push({
          path: at('table', r, 'when', key),
          message: `'${key}' is not a parent; expected ${a.parents.length > 0 ? `only the parents ${list(a.parents)}` : 'no keys (the attribute has no parents)'}`,
        });
      } else if (!byId.get(key)!.values.includes(value)) {
        issues.push({
          path: at('table', r, 'when', key),
          message: `value '${value}' is not a value of '${key}'; expected one of ${list(byId.get(key)!.values)}`,
        });
      }
    }
    for (const parent of a.parents)
      if (!own(row.when, parent))
        issues.push({ path: at('table', r, 'when'), message: `parent '${parent}' is missing` });
    if (issues.length === before) wellFormed.push(r);
  }

  let combos: Record<string, string>[] = [{}];
  for (const parent of a.parents)
    combos = combos.flatMap((c) => byId.get(parent)!.values.map((v) => ({ ...c, [parent]: v })));
  for (const c of combos) {
    const rows = wellFormed.filter((r) => a.parents.every((p) => a.table[r].when[p] === c[p]));
    if (rows.length === 0)
      issues.push({
        path: at('table'),
        message: `no row for ${combo(c)}; expected exactly one row per combination of parent values`,
      });
    else if (rows.length > 1)
      issues.push({
        path: at('table'),
        message: `${rows.length} rows for ${combo(c)} (${rows.map((r) => `table[${r}]`).join(', ')}); expected exactly one`,
      });
  }
  return issues;
}

/** Attributes the stable topological order cannot reach (unknown parents are reported elsewhere). */
function cycleIssues(attributes: readonly WorldAttribute[]): RuleIssue[] {
  const known = new Set(attributes.map((a) => a.id));
  const stuck = stableOrder(
    attributes.map((a) => ({ id: a.id, parents: a.parents.filter((p) => known.has(p)) })),
  ).pending;
  if (stuck.length === 0) return [];
  return [
    {
      path: ['attributes'],
      message: `the parents form a cycle: attributes ${quoted(stuck)} lie on or after a cycle; the SCM must be acyclic`,
    },
  ];
}

/** world/cgm_world/scm.py's order: repeatedly take, in file order, all pending attributes whose parents are done. */
function stableOrder(attributes: readonly { id: string; parents: readonly string[] }[]): {
  order: string[];
  pending: string[];
} {
  const done = new Set<string>();
  const order: string[] = [];
  let pending = [...attributes];
  while (pending.length > 0) {
    const ready = pending.filter((a) => a.parents.every((p) => done.has(p)));
    if (ready.length === 0) break;
    for (const a of ready) {
      done.add(a.id);
      order.push(a.id);
    }
    pending = pending.filter((a) => !done.has(a.id));
  }
  return { order, pending: pending.map((a) => a.id) };
}

/**
 * Validates parsed scm.json. Throws WorldInputError listing the problems, each as
 * `attributes[3] (weather).table[1].p: <what is wrong>; expected …`, prefixed with `source`.
 */
export function parseWorldScm(raw: unknown, source = 'scm.json'): WorldScm {
  const result = WorldScmSchema.safeParse(raw, { reportInput: true });
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const got =
      issue.code === 'custom' || !('input' in issue)
        ? ''
        : issue.input === undefined
          ? ' (field missing)'
          : ` (got ${clip(JSON.stringify(issue.input))})`;
    return `${fieldName(raw, issue.path)}: ${issue.message}${got}`;
  });
  const shown = lines.slice(0, 5).join('; ');
  const more = lines.length > 5 ? `; and ${lines.length - 5} more problems` : '';
  throw new WorldInputError(`${source}: not a valid world SCM: ${shown}${more}`);
}

const clip = (text: string) => (text.length > 60 ? `${text.slice(0, 57)}...` : text);

/** `attributes[3] (weather).table[1].p`: the zod path with the attribute's id after its index. */
function fieldName(raw: unknown, path: readonly PropertyKey[]): string {
  const [head, index, ...rest] = path;
  if (head === 'attributes' && typeof index === 'number') {
    const attributes = (raw as { attributes?: unknown } | null)?.attributes;
    const id = Array.isArray(attributes) ? (attributes[index] as { id?: unknown } | null)?.id : undefined;
    const label = typeof id === 'string' && id !== '' ? ` (${id})` : '';
    const tail = formatZodPath(['x', ...rest]).slice(1);
    return `attributes[${index}]${label}${tail}`;
  }
  return formatZodPath(path) || '(top level)';
}

/** Reads and validates world/scm.json (or `path`); errors are WorldInputError naming the file. */
export function loadWorldScm(path: string = DEFAULT_SCM_PATH): WorldScm {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new WorldInputError(
      `${path}: cannot read (${code === 'ENOENT' ? 'no such file' : (code ?? 'error')})`,
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new WorldInputError(`${path}: not valid JSON (${(err as Error).message})`);
  }
  return parseWorldScm(raw, path);
}

interface Derived {
  order: string[];
  byId: Map<string, WorldAttribute>;
  children: Map<string, string[]>;
}
const derivedCache = new WeakMap<WorldScm, Derived>();

function derived(scm: WorldScm): Derived {
  let d = derivedCache.get(scm);
  if (!d) {
    const { order, pending } = stableOrder(scm.attributes);
    if (pending.length > 0) throw new WorldInputError(`scm: cycle among attributes ${list(pending)}`);
    d = {
      order,
      byId: new Map(scm.attributes.map((a) => [a.id, a])),
      children: new Map(
        scm.attributes.map((a) => [
          a.id,
          scm.attributes.filter((c) => c.parents.includes(a.id)).map((c) => c.id),
        ]),
      ),
    };
    derivedCache.set(scm, d);
  }
  return d;
}

/** Attribute ids in solving order (stable topological order, as world/cgm_world/scm.py). */
export function attributeOrder(scm: WorldScm): string[] {
  return [...derived(scm).order];
}

/** The attributes' ids in file order. */
const attributeIds = (scm: WorldScm) => scm.attributes.map((a) => a.id);

function attributeOrThrow(scm: WorldScm, id: string, where: string): WorldAttribute {
  const a = derived(scm).byId.get(id);
  if (!a)
    throw new WorldInputError(
      `${where}: unknown attribute '${id}'; expected one of ${list(attributeIds(scm))}`,
    );
  return a;
}

/** Throws WorldInputError for an unknown attribute or a value the SCM does not allow. */
export function checkDo(scm: WorldScm, doMap: WorldDo): void {
  for (const [id, value] of Object.entries(doMap)) {
    const a = attributeOrThrow(scm, id, 'do()');
    if (typeof value !== 'string' || !a.values.includes(value))
      throw new WorldInputError(
        `do(${id}): value ${show(value)} is not allowed by the SCM; expected one of ${list(a.values)}`,
      );
  }
}

/**
 * `season=winter` (also `do(season=winter)`, spaces allowed around `=`) → { season: 'winter' }. Only the
 * form is checked here; checkDo checks the attribute and value against the SCM.
 */
export function parseDo(text: string): WorldDo {
  const inner = /^\s*do\s*\((.*)\)\s*$/s.exec(text)?.[1] ?? text;
  const parts = inner.split('=');
  const [id, value] = parts.map((s) => s.trim());
  if (parts.length !== 2 || !id || !value)
    throw new WorldInputError(`do: malformed '${text}'; expected ATTRIBUTE=VALUE, e.g. season=winter`);
  return Object.fromEntries([[id, value]]);
}

/** Several `--do` texts into one map; the same attribute twice with different values is an error. */
export function parseDoList(texts: readonly string[]): WorldDo {
  const out: WorldDo = {};
  for (const text of texts) {
    for (const [id, value] of Object.entries(parseDo(text))) {
      if (own(out, id) && out[id] !== value)
        throw new WorldInputError(
          `do(${id}): given twice ('${out[id]}' and '${value}'); give each attribute at most once`,
        );
      out[id] = value;
    }
  }
  return out;
}

/** Throws WorldInputError unless every attribute whose mechanism runs has noise in [0, 1). */
export function checkNoise(scm: WorldScm, noise: WorldNoise, doMap: WorldDo = {}): void {
  if (typeof noise !== 'object' || noise === null || Array.isArray(noise))
    throw new WorldInputError('noise: expected an object mapping attribute id to a number in [0, 1)');
  for (const id of Object.keys(noise)) attributeOrThrow(scm, id, 'noise');
  for (const id of attributeIds(scm)) {
    if (own(doMap, id)) continue;
    if (!own(noise, id)) throw new WorldInputError(`noise(${id}): missing; expected a number in [0, 1)`);
    const u = noise[id];
    if (typeof u !== 'number' || !Number.isFinite(u) || u < 0 || u >= 1)
      throw new WorldInputError(
        `noise(${id}): value ${show(u)} is out of range; expected a number in [0, 1)`,
      );
  }
}

/** The attribute's mechanism: inverse CDF of the row its parents' values select, at noise u. */
function mechanism(a: WorldAttribute, parentValues: WorldAttributes, u: number): string {
  const row = a.table.find((r) => Object.entries(r.when).every(([k, v]) => parentValues[k] === v));
  if (!row) throw new WorldInputError(`${a.id}: no table row for parents ${combo(parentValues)}`);
  let acc = 0;
  for (const value of a.values) {
    acc += prob(row.p, value);
    if (u < acc) return value;
  }
  const last = [...a.values].reverse().find((v) => prob(row.p, v) > 0);
  if (last === undefined)
    throw new WorldInputError(`${a.id}: the row for ${combo(row.when)} has no value with p > 0`);
  return last;
}

/**
 * Every attribute's value (keys in solving order) given the exogenous noise; `doMap` overrides the
 * mechanisms of the attributes it names (their noise is then not needed).
 */
export function solve(scm: WorldScm, noise: WorldNoise, doMap: WorldDo = {}): WorldAttributes {
  checkDo(scm, doMap);
  checkNoise(scm, noise, doMap);
  const { order, byId } = derived(scm);
  const values: WorldAttributes = {};
  for (const id of order) {
    const a = byId.get(id)!;
    values[id] = own(doMap, id)
      ? doMap[id]
      : mechanism(a, Object.fromEntries(a.parents.map((p) => [p, values[p]])), noise[id]);
  }
  return values;
}

/** The counterfactual world: the same noise, the mechanisms of the `doMap` attributes replaced. */
export function counterfactual(scm: WorldScm, noise: WorldNoise, doMap: WorldDo): WorldAttributes {
  return solve(scm, noise, doMap);
}

/** Ids of the attributes whose values differ between two solutions, in solving order. */
export function changedAttributes(scm: WorldScm, before: WorldAttributes, after: WorldAttributes): string[] {
  return derived(scm).order.filter((id) => before[id] !== after[id]);
}

/** De(id): attributes reachable from id along parent → child edges, in solving order, without id. */
export function descendants(scm: WorldScm, id: string): string[] {
  attributeOrThrow(scm, id, 'descendants()');
  const { order, children } = derived(scm);
  const seen = reach(children, id);
  return order.filter((a) => seen.has(a));
}

/** The same noise u for every attribute (u = 0.5: the "median" world). */
export function constantNoise(scm: WorldScm, u = 0.5): WorldNoise {
  return Object.fromEntries(attributeIds(scm).map((id) => [id, u]));
}

/** Throws WorldInputError unless `attributes` gives every attribute exactly one allowed value. */
export function checkAttributes(scm: WorldScm, attributes: WorldAttributes): void {
  for (const id of Object.keys(attributes)) attributeOrThrow(scm, id, 'attributes');
  for (const a of scm.attributes) {
    if (!own(attributes, a.id))
      throw new WorldInputError(`attributes.${a.id}: missing; expected one of ${list(a.values)}`);
    const value = attributes[a.id];
    if (typeof value !== 'string' || !a.values.includes(value))
      throw new WorldInputError(
        `attributes.${a.id}: value ${show(value)} is not allowed by the SCM; expected one of ${list(a.values)}`,
      );
  }
}

/** Concept ids of the world's concept graph: c1, c2, … in scm.json order, both ways. */
export interface WorldConceptIds {
  conceptOf: ReadonlyMap<string, string>;
  attributeOf: ReadonlyMap<string, string>;
}

export function worldConceptIds(scm: WorldScm): WorldConceptIds {
  const pairs = scm.attributes.map((a, i) => [a.id, `c${i + 1}`] as const);
  return {
    conceptOf: new Map(pairs),
    attributeOf: new Map(pairs.map(([attribute, concept]) => [concept, attribute])),
  };
}

/**
 * The scene as the paper's Fig. 2 concept graph: one concept per attribute (current_value = the phrase
 * of its value, e.g. "wet road"), one relationship per SCM edge, in scm.json order.
 */
export function worldConceptGraph(scm: WorldScm, attributes: WorldAttributes): ConceptGraph {
  checkAttributes(scm, attributes);
  const { conceptOf } = worldConceptIds(scm);
  const byId = derived(scm).byId;
  const phrase = (a: WorldAttribute) => a.phrases[attributes[a.id]];
  const concepts = scm.attributes.map((a) => ({
    id: conceptOf.get(a.id)!,
    name: a.name,
    current_value: phrase(a),
    description: a.description,
  }));
  const relationships = scm.attributes
    .flatMap((a) => a.parents.map((p) => [byId.get(p)!, a] as const))
    .map(([cause, effect], i) => ({
      id: `r${i + 1}`,
      cause_id: conceptOf.get(cause.id)!,
      effect_id: conceptOf.get(effect.id)!,
      description: `${cause.name} influences ${effect.name}`,
    }));
  const phrases = scm.attributes.map(phrase);
  const summary =
    phrases.length === 1
      ? phrases[0]
      : `${phrases.slice(0, -1).join(', ')} and ${phrases[phrases.length - 1]}`;
  return { concepts, relationships, scene_summary: `A street scene with ${summary}.` };
}
