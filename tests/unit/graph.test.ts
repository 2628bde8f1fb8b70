import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  ancestors,
  CyclicGraphError,
  descendants,
  nonDescendants,
  repairGraph,
  topologicalOrder,
  UnknownConceptError,
  validateGraph,
} from '../../core/graph/index.js';
import { type ConceptGraph, ConceptGraphSchema } from '../../core/schemas/paper.js';

/** A graph from concept ids and [cause, effect] pairs; relationship ids r1, r2, … in order. */
function graphOf(ids: string[], edges: [string, string][]): ConceptGraph {
  return {
    concepts: ids.map((id) => ({ id, name: `name ${id}`, current_value: `value ${id}`, description: '' })),
    relationships: edges.map(([cause_id, effect_id], i) => ({
      id: `r${i + 1}`,
      cause_id,
      effect_id,
      description: '',
    })),
    scene_summary: 'test',
  };
}

const fixture = (name: string) =>
  ConceptGraphSchema.parse(
    JSON.parse(readFileSync(new URL(`../fixtures/graphs/${name}.json`, import.meta.url), 'utf8')),
  );

describe('validateGraph', () => {
  it('accepts a DAG', () => {
    expect(validateGraph(fixture('valid'))).toEqual({ valid: true, issues: [] });
  });

  it('names duplicate concept and relationship ids with their positions', () => {
    const g = graphOf(['c1', 'c2', 'c1'], [['c1', 'c2']]);
    g.relationships.push({ ...g.relationships[0], cause_id: 'c2', effect_id: 'c1' });
    const { valid, issues } = validateGraph(g);
    expect(valid).toBe(false);
    const dupConcept = issues.find((i) => i.code === 'duplicate_concept_id')!;
    expect(dupConcept.ids).toEqual(['c1']);
    expect(dupConcept.message).toContain("'c1'");
    expect(dupConcept.message).toContain('concepts[0], concepts[2]');
    const dupRel = issues.find((i) => i.code === 'duplicate_relationship_id')!;
    expect(dupRel.ids).toEqual(['r1']);
    expect(dupRel.message).toContain('relationships[0], relationships[1]');
  });

  it('reports dangling, self and duplicate edges by relationship id', () => {
    const g = graphOf(
      ['c1', 'c2'],
      [
        ['c1', 'c9'],
        ['c8', 'c2'],
        ['c2', 'c2'],
        ['c1', 'c2'],
        ['c1', 'c2'],
      ],
    );
    const { issues } = validateGraph(g);
    expect(issues.map((i) => [i.code, i.ids])).toEqual([
      ['dangling_edge', ['r1', 'c9']],
      ['dangling_edge', ['r2', 'c8']],
      ['self_edge', ['r3', 'c2']],
      ['duplicate_edge', ['r5', 'r4', 'c1', 'c2']],
    ]);
    expect(issues[0].message).toBe("relationship 'r1' (c1 → c9) refers to unknown concept id 'c9'");
    expect(issues[3].message).toContain("'r4'");
  });

  it('reports one cycle per cyclic component, shown through its smallest id', () => {
    const g = graphOf(
      ['c3', 'c1', 'c2', 'c4', 'c5'],
      [
        ['c1', 'c2'],
        ['c2', 'c3'],
        ['c3', 'c1'],
        ['c4', 'c5'],
        ['c5', 'c4'],
      ],
    );
    const cycles = validateGraph(g).issues.filter((i) => i.code === 'cycle');
    expect(cycles).toHaveLength(2);
    expect(cycles[0].ids.sort()).toEqual(['c1', 'c2', 'c3']);
    expect(cycles[0].message).toContain('c1 → c2 → c3 → c1');
    expect(cycles[1].message).toContain('c4 → c5 → c4');
  });
});

describe('reachability', () => {
  const g = fixture('valid'); // c6 → c1 → {c2, c4, c3}; c6 → c3, c7; c5 isolated

  it('descendants, ancestors and non-descendants follow the edges, in concept order', () => {
    expect(descendants(g, 'c6')).toEqual(['c1', 'c2', 'c3', 'c4', 'c7']);
    expect(descendants(g, 'c1')).toEqual(['c2', 'c3', 'c4']);
    expect(descendants(g, 'c5')).toEqual([]);
    expect(ancestors(g, 'c3')).toEqual(['c1', 'c6']);
    expect(nonDescendants(g, 'c1')).toEqual(['c5', 'c6', 'c7']);
  });

  it('leaves a node out of its own descendants even on a cycle', () => {
    const cyclic = graphOf(
      ['a', 'b'],
      [
        ['a', 'b'],
        ['b', 'a'],
      ],
    );
    expect(descendants(cyclic, 'a')).toEqual(['b']);
    expect(nonDescendants(cyclic, 'a')).toEqual([]);
  });

  it('throws for an unknown concept id', () => {
    expect(() => descendants(g, 'c42')).toThrow(UnknownConceptError);
  });
});

describe('topologicalOrder', () => {
  it('breaks ties by concept order', () => {
    expect(topologicalOrder(fixture('valid'))).toEqual(['c5', 'c6', 'c1', 'c2', 'c3', 'c4', 'c7']);
    expect(topologicalOrder(graphOf(['b', 'a', 'c'], []))).toEqual(['b', 'a', 'c']);
  });

  it('throws CyclicGraphError naming the concepts it could not order', () => {
    const g = graphOf(
      ['x', 'a', 'b'],
      [
        ['a', 'b'],
        ['b', 'a'],
      ],
    );
    expect(() => topologicalOrder(g)).toThrow(CyclicGraphError);
    try {
      topologicalOrder(g);
    } catch (err) {
      expect((err as CyclicGraphError).ids).toEqual(['a', 'b']);
    }
  });
});

describe('repairGraph', () => {
  it('removes the last-listed edge of each cycle and records the cycle', () => {
    const { graph, repairs } = repairGraph(fixture('cyclic'));
    expect(validateGraph(graph).valid).toBe(true);
    expect(repairs).toEqual([
      {
        kind: 'removed_cycle_edge',
        relationship_id: 'r7',
        cause_id: 'c2',
        effect_id: 'c1',
        cycle: ['c2', 'c1', 'c2'],
        reason: 'last-listed edge of the cycle c2 → c1 → c2',
      },
      {
        kind: 'removed_cycle_edge',
        relationship_id: 'r8',
        cause_id: 'c4',
        effect_id: 'c6',
        cycle: ['c4', 'c6', 'c1', 'c4'],
        reason: 'last-listed edge of the cycle c4 → c6 → c1 → c4',
      },
    ]);
    expect(graph.relationships.map((r) => r.id)).toEqual(['r1', 'r2', 'r3', 'r4', 'r5', 'r6']);
  });

  it('the removed edge depends on the relationship order', () => {
    const a = repairGraph(
      graphOf(
        ['p', 'q'],
        [
          ['p', 'q'],
          ['q', 'p'],
        ],
      ),
    );
    const b = repairGraph(
      graphOf(
        ['p', 'q'],
        [
          ['q', 'p'],
          ['p', 'q'],
        ],
      ),
    );
    expect([a.repairs[0].cause_id, b.repairs[0].cause_id]).toEqual(['q', 'p']);
  });

  it('removes dangling, self and duplicate edges and renames reused relationship ids', () => {
    const g = graphOf(
      ['c1', 'c2'],
      [
        ['c1', 'c9'],
        ['c1', 'c1'],
        ['c1', 'c2'],
        ['c1', 'c2'],
      ],
    );
    g.relationships[3].id = 'r3'; // reused id, also a duplicate edge
    g.relationships[1].id = 'r3_2'; // the first free suffix is then _3
    const { graph, repairs } = repairGraph(g);
    expect(repairs.map((r) => [r.kind, r.relationship_id, r.new_id])).toEqual([
      ['renamed_relationship_id', 'r3', 'r3_3'],
      ['removed_dangling_edge', 'r1', undefined],
      ['removed_self_edge', 'r3_2', undefined],
      ['removed_duplicate_edge', 'r3_3', undefined],
    ]);
    expect(graph.relationships.map((r) => r.id)).toEqual(['r3']);
    expect(validateGraph(graph).valid).toBe(true);
  });

  it('leaves duplicate concept ids for validation to report', () => {
    const { graph, repairs } = repairGraph(graphOf(['c1', 'c1'], []));
    expect(repairs).toEqual([]);
    expect(validateGraph(graph).issues.map((i) => i.code)).toEqual(['duplicate_concept_id']);
  });

  it('does not mutate its input', () => {
    const g = fixture('cyclic');
    const before = structuredClone(g);
    repairGraph(g);
    expect(g).toEqual(before);
  });
});
