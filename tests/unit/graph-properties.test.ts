// Invariants of repair, order and reachability on random graphs (fast-check).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ancestors,
  descendants,
  nonDescendants,
  repairGraph,
  topologicalOrder,
  validateGraph,
} from '../../core/graph/index.js';
import type { ConceptGraph } from '../../core/schemas/paper.js';

function graphOf(ids: string[], edges: [string, string][]): ConceptGraph {
  return {
    concepts: ids.map((id) => ({ id, name: id, current_value: 'v', description: '' })),
    relationships: edges.map(([cause_id, effect_id], i) => ({
      id: `r${i + 1}`,
      cause_id,
      effect_id,
      description: '',
    })),
    scene_summary: '',
  };
}

const ids = (n: number) => Array.from({ length: n }, (_, i) => `c${i}`);

/** Any directed graph: self edges, duplicates and cycles allowed; concepts in shuffled order. */
const anyGraph = fc
  .integer({ min: 1, max: 8 })
  .chain((n) =>
    fc.record({
      order: fc.shuffledSubarray(ids(n), { minLength: n, maxLength: n }),
      edges: fc.array(fc.tuple(fc.integer({ min: 0, max: n - 1 }), fc.integer({ min: 0, max: n - 1 })), {
        maxLength: 20,
      }),
    }),
  )
  .map(({ order, edges }) =>
    graphOf(
      order,
      edges.map(([a, b]) => [`c${a}`, `c${b}`]),
    ),
  );

/** A DAG whose concepts are listed in a topological order (edges only from lower to higher index). */
const sortedDag = fc.integer({ min: 1, max: 9 }).chain((n) =>
  fc.array(fc.tuple(fc.nat(n - 1), fc.nat(n - 1)), { maxLength: 20 }).map((pairs) => {
    const edges = new Map<string, [string, string]>();
    for (const [a, b] of pairs) if (a < b) edges.set(`${a}>${b}`, [`c${a}`, `c${b}`]);
    return graphOf(ids(n), [...edges.values()]);
  }),
);

describe('repairGraph on random graphs', () => {
  it('always yields a valid DAG', () => {
    fc.assert(
      fc.property(anyGraph, (g) => {
        const { graph } = repairGraph(g);
        expect(validateGraph(graph)).toEqual({ valid: true, issues: [] });
        expect(() => topologicalOrder(graph)).not.toThrow();
      }),
    );
  });

  it('removes only edges that were on a cycle (or self, dangling, repeated), keeping the rest in order', () => {
    fc.assert(
      fc.property(anyGraph, (g) => {
        const { graph, repairs } = repairGraph(g);
        const removed = new Set(repairs.map((r) => r.relationship_id));
        expect(graph.relationships).toEqual(g.relationships.filter((r) => !removed.has(r.id)));
        for (const r of repairs) {
          if (r.kind === 'removed_cycle_edge') {
            expect(descendants(g, r.effect_id)).toContain(r.cause_id); // effect reaches cause: on a cycle
            expect(r.cycle![0]).toBe(r.cause_id);
            expect(r.cycle!.at(-1)).toBe(r.cause_id);
            // maximal: putting the edge back would close a cycle in the repaired graph
            expect(descendants(graph, r.effect_id)).toContain(r.cause_id);
          } else if (r.kind === 'removed_self_edge') {
            expect(r.cause_id).toBe(r.effect_id);
          } else if (r.kind === 'removed_duplicate_edge') {
            const first = g.relationships.findIndex(
              (x) => x.cause_id === r.cause_id && x.effect_id === r.effect_id,
            );
            expect(g.relationships[first].id).not.toBe(r.relationship_id);
          }
        }
      }),
    );
  });

  it('removes nothing from a DAG', () => {
    fc.assert(
      fc.property(sortedDag, (g) => {
        expect(repairGraph(g).repairs).toEqual([]);
      }),
    );
  });

  it('is deterministic, idempotent, and independent of the order of the concepts', () => {
    fc.assert(
      fc.property(anyGraph, fc.integer(), (g, seed) => {
        const once = repairGraph(g);
        expect(repairGraph(structuredClone(g))).toEqual(once);
        expect(repairGraph(once.graph).repairs).toEqual([]);
        const rotated = {
          ...g,
          concepts: [
            ...g.concepts.slice(seed % g.concepts.length),
            ...g.concepts.slice(0, seed % g.concepts.length),
          ],
        };
        const other = repairGraph(rotated);
        expect(other.repairs).toEqual(once.repairs);
        expect(other.graph.relationships).toEqual(once.graph.relationships);
      }),
    );
  });
});

describe('order and reachability on random DAGs', () => {
  const anyDag = anyGraph.map((g) => repairGraph(g).graph);

  it('topological order is a permutation that respects every edge', () => {
    fc.assert(
      fc.property(anyDag, (g) => {
        const order = topologicalOrder(g);
        expect([...order].sort()).toEqual(g.concepts.map((c) => c.id).sort());
        for (const r of g.relationships)
          expect(order.indexOf(r.cause_id)).toBeLessThan(order.indexOf(r.effect_id));
      }),
    );
  });

  it('keeps the concept order when it is already topological', () => {
    fc.assert(
      fc.property(sortedDag, (g) => {
        expect(topologicalOrder(g)).toEqual(g.concepts.map((c) => c.id));
      }),
    );
  });

  it('descendants, non-descendants and the node itself partition the concepts', () => {
    fc.assert(
      fc.property(anyDag, (g) => {
        const all = g.concepts.map((c) => c.id);
        for (const x of all) {
          const de = descendants(g, x);
          const nd = nonDescendants(g, x);
          expect([...de, ...nd, x].sort()).toEqual([...all].sort());
          expect(de.filter((d) => nd.includes(d) || d === x)).toEqual([]);
          expect(nd).not.toContain(x);
        }
      }),
    );
  });

  it('descendants are transitively closed and mirror ancestors', () => {
    fc.assert(
      fc.property(anyGraph, (g) => {
        for (const { id: x } of g.concepts) {
          const de = new Set(descendants(g, x));
          for (const y of de) {
            for (const z of descendants(g, y)) if (z !== x) expect(de).toContain(z);
            expect(ancestors(g, y)).toContain(x);
          }
          for (const r of g.relationships) {
            if (r.cause_id === x && r.effect_id !== x) expect(de).toContain(r.effect_id);
          }
        }
      }),
    );
  });
});
