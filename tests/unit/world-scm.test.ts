// The street world's SCM (core/world/scm.ts): hand-worked propagation through world/scm.json, the
// schema's rules, do() parsing and checks, the Fig. 2 concept graph, and agreement with the Python SCM.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { validateGraph } from '../../core/graph/validate.js';
import { ConceptGraphSchema } from '../../core/schemas/paper.js';
import { WorldInputError } from '../../core/world/errors.js';
import {
  attributeOrder,
  changedAttributes,
  checkDo,
  constantNoise,
  counterfactual,
  descendants,
  loadWorldScm,
  parseDo,
  parseDoList,
  parseWorldScm,
  solve,
  type WorldScm,
  worldConceptGraph,
  worldConceptIds,
} from '../../core/world/scm.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const scm = loadWorldScm();
const half = constantNoise(scm, 0.5);
/** A deep copy of scm.json to break on purpose. */
const rawScm = (): WorldScm => JSON.parse(readFileSync(`${root}/world/scm.json`, 'utf8'));
const attr = (raw: WorldScm, id: string) => raw.attributes.find((a) => a.id === id)!;

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}

describe('world SCM: propagation (worked by hand from world/scm.json)', () => {
  it('solves in stable topological order', () => {
    expect(attributeOrder(scm)).toEqual([
      'season',
      'time_of_day',
      'car_color',
      'weather',
      'foliage',
      'lamp',
      'sky',
      'road',
      'umbrella',
    ]);
  });

  it('all noise 0.5 → the autumn scene', () => {
    // season: cumulative .25 .5 .75 → 0.5 < .75 is the first: autumn (0.5 < 0.5 is false).
    // time_of_day: 0.5 < .6 → day. car_color: like season → yellow. weather|autumn: .4, 1 → rainy.
    // foliage|autumn: orange 1 → orange. sky|rainy,day → grey. road|rainy → wet.
    // umbrella|rainy: open .9 → open. lamp|day: on .05, off 1 → off.
    expect(solve(scm, half)).toEqual({
      season: 'autumn',
      time_of_day: 'day',
      car_color: 'yellow',
      weather: 'rainy',
      foliage: 'orange',
      sky: 'grey',
      road: 'wet',
      umbrella: 'open',
      lamp: 'off',
    });
  });

  it('noise at the edges of the cumulative sums', () => {
    expect(solve(scm, { ...half, season: 0 }).season).toBe('spring');
    expect(solve(scm, { ...half, season: 0.25 }).season).toBe('summer');
    expect(solve(scm, { ...half, season: 0.999999 }).season).toBe('winter');
    expect(solve(scm, { ...half, time_of_day: 0.6 }).time_of_day).toBe('night');
    expect(solve(scm, { ...half, time_of_day: 0.6, lamp: 0.94 }).lamp).toBe('on');
    expect(solve(scm, { ...half, time_of_day: 0.6, lamp: 0.95 }).lamp).toBe('off');
  });

  it('do(season=winter) with weather noise 0.95 → snow everywhere, bare tree', () => {
    // weather|winter: sunny .3, rainy .4, snowy 1 → 0.95 → snowy; road|snowy → snowy; foliage bare.
    const noise = { ...half, weather: 0.95 };
    const day = counterfactual(scm, noise, { season: 'winter' });
    expect(day).toEqual({
      season: 'winter',
      time_of_day: 'day',
      car_color: 'yellow',
      weather: 'snowy',
      foliage: 'bare',
      sky: 'grey',
      road: 'snowy',
      umbrella: 'open', // umbrella|snowy: open .6 → 0.5 → open
      lamp: 'off',
    });
    const night = counterfactual(scm, { ...noise, time_of_day: 0.7 }, { season: 'winter' });
    expect(night).toMatchObject({
      weather: 'snowy',
      road: 'snowy',
      sky: 'dark',
      foliage: 'bare',
      lamp: 'on',
    });
    // Factually (autumn) the same noise gives rain: the season's change reached every descendant.
    const factual = solve(scm, noise);
    expect(changedAttributes(scm, factual, day)).toEqual(['season', 'weather', 'foliage', 'road']);
  });

  it('do(weather=sunny) leaves season and foliage (non-descendants) unchanged', () => {
    const before = solve(scm, half);
    const after = counterfactual(scm, half, { weather: 'sunny' });
    expect(after).toEqual({
      ...before,
      weather: 'sunny',
      sky: 'blue',
      road: 'dry',
      umbrella: 'none', // umbrella|sunny: open .1, none 1 → 0.5 → none
    });
    expect(after.season).toBe(before.season);
    expect(after.foliage).toBe(before.foliage);
    expect(changedAttributes(scm, before, after)).toEqual(['weather', 'sky', 'road', 'umbrella']);
  });

  it('do(car_color=…) changes nothing else', () => {
    for (const u of [0.1, 0.5, 0.9]) {
      const noise = constantNoise(scm, u);
      const before = solve(scm, noise);
      for (const color of ['red', 'blue', 'yellow', 'white']) {
        const after = counterfactual(scm, noise, { car_color: color });
        expect(after).toEqual({ ...before, car_color: color });
      }
    }
    expect(descendants(scm, 'car_color')).toEqual([]);
  });

  it('the noise of an intervened attribute is not needed', () => {
    const { season: _unused, ...noise } = half;
    expect(solve(scm, noise, { season: 'spring' })).toMatchObject({ season: 'spring', foliage: 'pink' });
  });

  it('descendants in topological order', () => {
    expect(descendants(scm, 'season')).toEqual(['weather', 'foliage', 'sky', 'road', 'umbrella']);
    expect(descendants(scm, 'weather')).toEqual(['sky', 'road', 'umbrella']);
    expect(descendants(scm, 'time_of_day')).toEqual(['lamp', 'sky']);
    expect(descendants(scm, 'sky')).toEqual([]);
    expect(() => descendants(scm, 'sesaon')).toThrow(/unknown attribute 'sesaon'/);
  });

  it('u beyond the rounded sum of a row falls back to the last value with p > 0', () => {
    const raw = rawScm();
    attr(raw, 'time_of_day').table[0].p = { day: 0.6, night: 0.3999995 }; // sums to 0.9999995 (within 1e-6)
    const rounded = parseWorldScm(raw);
    expect(solve(rounded, { ...half, time_of_day: 0.9999997 }).time_of_day).toBe('night');
    attr(raw, 'time_of_day').table[0].p = { day: 0.9999995, night: 0 };
    expect(solve(parseWorldScm(raw), { ...half, time_of_day: 0.9999997 }).time_of_day).toBe('day');
  });

  it('rejects bad noise, naming the attribute', () => {
    const { weather: _w, ...missing } = half;
    expect(() => solve(scm, missing)).toThrow('noise(weather): missing; expected a number in [0, 1)');
    expect(() => solve(scm, { ...half, sky: 1 })).toThrow('noise(sky): value 1 is out of range');
    expect(() => solve(scm, { ...half, sky: -0.1 })).toThrow('noise(sky): value -0.1 is out of range');
    expect(() => solve(scm, { ...half, skye: 0.5 })).toThrow("noise: unknown attribute 'skye'");
  });
});

describe('world SCM: schema', () => {
  const problem = (raw: unknown) => {
    const err = errorOf(() => parseWorldScm(raw, 'my-scm.json'));
    expect(err).toBeInstanceOf(WorldInputError);
    expect(err.message).toMatch(/^my-scm\.json: not a valid world SCM: /);
    return err.message;
  };

  it('accepts world/scm.json', () => {
    expect(scm.attributes.map((a) => a.id)).toHaveLength(9);
  });

  it('rejects a table row summing to 0.9, naming attribute, row and sum', () => {
    const raw = rawScm();
    attr(raw, 'weather').table[1].p = { sunny: 0.65, rainy: 0.25, snowy: 0 };
    expect(problem(raw)).toContain(
      'attributes[3] (weather).table[1].p: probabilities of the row for season=summer sum to 0.9; expected 1',
    );
  });

  it('rejects a missing parent row and a duplicated one', () => {
    const raw = rawScm();
    attr(raw, 'sky').table.splice(2, 1); // snowy, day
    expect(problem(raw)).toContain(
      'attributes[5] (sky).table: no row for weather=snowy, time_of_day=day; expected exactly one row',
    );
    const dup = rawScm();
    attr(dup, 'road').table.push(attr(dup, 'road').table[0]);
    expect(problem(dup)).toContain(
      'attributes[6] (road).table: 2 rows for weather=sunny (table[0], table[3])',
    );
  });

  it('rejects an unknown parent', () => {
    const raw = rawScm();
    attr(raw, 'road').parents = ['wether'];
    expect(problem(raw)).toContain(
      "attributes[6] (road).parents[0]: unknown parent 'wether'; expected one of season, time_of_day",
    );
  });

  it('rejects rows naming non-parents or values a parent does not have', () => {
    const raw = rawScm();
    attr(raw, 'road').table[0].when = { wether: 'sunny' };
    attr(raw, 'road').table[1].when = { weather: 'hail' };
    const message = problem(raw);
    expect(message).toContain("attributes[6] (road).table[0].when.wether: 'wether' is not a parent");
    expect(message).toContain(
      "attributes[6] (road).table[1].when.weather: value 'hail' is not a value of 'weather'",
    );
  });

  it('rejects duplicate ids, empty or repeated values, missing phrases, unknown p keys', () => {
    const raw = rawScm();
    raw.attributes[2].id = 'season';
    expect(problem(raw)).toContain("attributes[2] (season).id: attribute id 'season' is used 2 times");

    const empty = rawScm();
    attr(empty, 'lamp').values = [];
    expect(problem(empty)).toContain('attributes[8] (lamp).values: values must list at least one value');

    const repeated = rawScm();
    attr(repeated, 'lamp').values = ['on', 'off', 'on'];
    expect(problem(repeated)).toContain("attributes[8] (lamp).values: value 'on' is listed 2 times");

    const phrase = rawScm();
    delete attr(phrase, 'road').phrases.wet;
    expect(problem(phrase)).toContain("attributes[6] (road).phrases: no phrase for value 'wet'");

    const pKey = rawScm();
    attr(pKey, 'road').table[0].p = { dry: 0.5, damp: 0.5 };
    expect(problem(pKey)).toContain(
      "attributes[6] (road).table[0].p.damp: probability for 'damp', which is not a value",
    );
  });

  it('rejects a cycle', () => {
    const raw = rawScm();
    const season = attr(raw, 'season');
    season.parents = ['foliage'];
    season.table = ['pink', 'green', 'orange', 'bare'].map((f) => ({
      when: { foliage: f },
      p: { spring: 1 },
    }));
    expect(problem(raw)).toMatch(/attributes: the parents form a cycle: attributes 'season', .*'foliage'/);
  });

  it('names the file when it cannot be read', () => {
    expect(() => loadWorldScm(`${root}/world/no-such-scm.json`)).toThrow(
      /no-such-scm\.json: cannot read \(no such file\)/,
    );
  });
});

describe('world SCM: do()', () => {
  it('checkDo names the unknown attribute or the disallowed value', () => {
    expect(() => checkDo(scm, { sesaon: 'winter' })).toThrow(
      "do(): unknown attribute 'sesaon'; expected one of season, time_of_day, car_color, weather, foliage, sky, road, umbrella, lamp",
    );
    expect(() => checkDo(scm, { season: 'monsoon' })).toThrow(
      "do(season): value 'monsoon' is not allowed by the SCM; expected one of spring, summer, autumn, winter",
    );
    expect(errorOf(() => checkDo(scm, { season: 'monsoon' }))).toBeInstanceOf(WorldInputError);
    expect(() => checkDo(scm, { season: 'winter', weather: 'sunny' })).not.toThrow();
    expect(() => solve(scm, half, { season: 'monsoon' })).toThrow(WorldInputError);
  });

  it('parseDo reads K=V (also do(K = V)) and names malformed text', () => {
    expect(parseDo('season=winter')).toEqual({ season: 'winter' });
    expect(parseDo('do(weather = sunny)')).toEqual({ weather: 'sunny' });
    for (const bad of ['season', 'season=', '=winter', 'a=b=c', ''])
      expect(() => parseDo(bad)).toThrow(
        `do: malformed '${bad}'; expected ATTRIBUTE=VALUE, e.g. season=winter`,
      );
    expect(parseDoList(['season=winter', 'weather=sunny', 'season=winter'])).toEqual({
      season: 'winter',
      weather: 'sunny',
    });
    expect(() => parseDoList(['season=winter', 'season=summer'])).toThrow(
      "do(season): given twice ('winter' and 'summer')",
    );
  });
});

describe('world SCM: concept graph (paper Fig. 2)', () => {
  const attributes = solve(scm, half);
  const graph = worldConceptGraph(scm, attributes);

  it("passes the project's schema and graph validation", () => {
    expect(ConceptGraphSchema.parse(graph)).toEqual(graph);
    expect(validateGraph(graph)).toEqual({ valid: true, issues: [] });
  });

  it('has one concept per attribute (c1..c9, phrases as values) and one relationship per edge', () => {
    expect(graph.concepts.map((c) => c.id)).toEqual(['c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7', 'c8', 'c9']);
    expect(graph.concepts[0]).toEqual({
      id: 'c1',
      name: 'season',
      current_value: 'autumn season',
      description: 'the season of the year',
    });
    expect(graph.concepts.find((c) => c.name === 'road surface')?.current_value).toBe('wet road');
    const edges = scm.attributes.reduce((n, a) => n + a.parents.length, 0);
    expect(edges).toBe(7);
    expect(graph.relationships).toHaveLength(edges);
    expect(graph.relationships.map((r) => r.id)).toEqual(['r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7']);
    expect(graph.relationships[0]).toEqual({
      id: 'r1',
      cause_id: 'c1',
      effect_id: 'c4',
      description: 'season influences weather',
    });
    expect(graph.scene_summary).toMatch(/^A street scene with autumn season, .* and unlit street lamp\.$/);
  });

  it('maps concept ids to attribute ids both ways, and its edges match the SCM descendants', () => {
    const { conceptOf, attributeOf } = worldConceptIds(scm);
    expect(conceptOf.get('season')).toBe('c1');
    expect(attributeOf.get('c9')).toBe('lamp');
    for (const a of scm.attributes) expect(attributeOf.get(conceptOf.get(a.id)!)).toBe(a.id);
    for (const r of graph.relationships) {
      const effect = attributeOf.get(r.effect_id)!;
      expect(descendants(scm, attributeOf.get(r.cause_id)!)).toContain(effect);
    }
  });

  it('rejects attributes the SCM does not allow, naming the field', () => {
    expect(() => worldConceptGraph(scm, { ...attributes, season: 'monsoon' })).toThrow(
      "attributes.season: value 'monsoon' is not allowed by the SCM",
    );
    const { lamp: _l, ...missing } = attributes;
    expect(() => worldConceptGraph(scm, missing)).toThrow(
      'attributes.lamp: missing; expected one of on, off',
    );
    expect(() => worldConceptGraph(scm, { ...attributes, sesaon: 'x' })).toThrow(
      "attributes: unknown attribute 'sesaon'",
    );
  });
});

// Cases solved by world/cgm_world/scm.py: both languages must give the same attributes for the same noise.
const CASES = `${root}/world/testdata/scm-cases.json`;
const casesReason =
  'world/testdata/scm-cases.json is missing (written by the Python side): cross-language check skipped';

describe('world SCM: agrees with the Python SCM', () => {
  it.skipIf(!existsSync(CASES))(
    existsSync(CASES) ? 'every case in world/testdata/scm-cases.json' : casesReason,
    () => {
      const cases = JSON.parse(readFileSync(CASES, 'utf8')) as {
        noise: Record<string, number>;
        do?: Record<string, string> | null;
        attributes: Record<string, string>;
      }[];
      expect(Array.isArray(cases) && cases.length > 0).toBe(true);
      for (const [i, c] of cases.entries()) {
        const got = solve(scm, c.noise, c.do ?? {});
        expect({ case: i, attributes: got }).toEqual({ case: i, attributes: c.attributes });
      }
    },
  );
});
