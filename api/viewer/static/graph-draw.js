// @ts-check
// Draws an ELK layout as SVG: one <g class="node"> per concept (name, value), one <path class="edge"> per
// relationship, removed edges dashed. Marks (intervened, descendant, violation) are classes, so choosing
// another intervention only changes classes and value labels.
import { svgEl } from './dom.js';
import { removedEdges } from './graph-model.js';

/**
 * @typedef {import('./graph-model.js').GraphRecord} GraphRecord
 * @typedef {ReturnType<typeof import('./graph-model.js').graphMarks>} Marks
 * @typedef {{ x: number, y: number }} Point
 * @typedef {{ id: string, x?: number, y?: number, width?: number, height?: number }} LaidNode
 * @typedef {{ id: string, sections?: { startPoint: Point, endPoint: Point, bendPoints?: Point[] }[] }} LaidEdge
 * @typedef {{ width?: number, height?: number, children?: LaidNode[], edges?: LaidEdge[] }} Layout
 */

const PAD = 12;

/** @param {Layout} layout @param {GraphRecord} record @returns {SVGSVGElement} */
export function drawGraph(layout, record) {
  const width = (layout.width ?? 0) + 2 * PAD;
  const height = (layout.height ?? 0) + 2 * PAD;
  const svg = /** @type {SVGSVGElement} */ (
    svgEl('svg', {
      class: 'dag',
      attrs: {
        viewBox: `${-PAD} ${-PAD} ${width} ${height}`,
        width,
        height,
        role: 'img',
        'aria-label': 'causal graph',
      },
    })
  );
  const arrow = (/** @type {string} */ id, /** @type {string} */ cls) =>
    svgEl(
      'marker',
      {
        attrs: {
          id,
          viewBox: '0 0 10 10',
          refX: 10,
          refY: 5,
          markerWidth: 7,
          markerHeight: 7,
          orient: 'auto-start-reverse',
        },
      },
      [svgEl('path', { class: cls, attrs: { d: 'M 0 0 L 10 5 L 0 10 z' } })],
    );
  svg.append(svgEl('defs', {}, [arrow('arrow', 'arrowhead'), arrow('arrow-removed', 'arrowhead removed')]));

  const relationships = new Map(record.graph.relationships.map((r) => [`rel:${r.id}`, r]));
  const removed = new Map(removedEdges(record).map((e) => [e.id, e]));
  for (const edge of layout.edges ?? []) {
    const rel = relationships.get(edge.id);
    const cut = removed.get(edge.id);
    const points = (edge.sections ?? []).flatMap((s) => [s.startPoint, ...(s.bendPoints ?? []), s.endPoint]);
    if (points.length < 2 || (!rel && !cut)) continue;
    const d = points.map((p, i) => `${i === 0 ? 'M' : 'L'} ${p.x} ${p.y}`).join(' ');
    const title = rel
      ? `${rel.cause_id} → ${rel.effect_id}: ${rel.description ?? ''}`
      : `removed by a repair (${cut?.repair.kind}): ${cut?.repair.reason}`;
    svg.append(
      svgEl(
        'path',
        {
          class: rel ? 'edge' : 'edge removed',
          attrs: {
            d,
            'marker-end': rel ? 'url(#arrow)' : 'url(#arrow-removed)',
            'data-relationship-id': rel ? rel.id : null,
            'data-removed': cut ? `${cut.cause_id}->${cut.effect_id}` : null,
          },
        },
        [svgEl('title', { text: title })],
      ),
    );
  }

  const concepts = new Map(record.graph.concepts.map((c) => [c.id, c]));
  for (const node of layout.children ?? []) {
    const c = concepts.get(node.id);
    if (!c) continue;
    const w = node.width ?? 0;
    const h = node.height ?? 0;
    svg.append(
      svgEl(
        'g',
        {
          class: 'node',
          attrs: { 'data-concept-id': c.id, transform: `translate(${node.x ?? 0} ${node.y ?? 0})` },
        },
        [
          svgEl('title', { text: `${c.id}: ${c.description ?? ''}` }),
          svgEl('rect', { attrs: { width: w, height: h, rx: 8 } }),
          svgEl('text', { class: 'name', text: c.name, attrs: { x: w / 2, y: 22, 'text-anchor': 'middle' } }),
          svgEl('text', {
            class: 'value',
            text: c.current_value,
            attrs: { x: w / 2, y: 42, 'text-anchor': 'middle' },
          }),
        ],
      ),
    );
  }
  return svg;
}

/** Sets the marks of one intervention on a drawn graph. @param {SVGSVGElement} svg @param {GraphRecord} record @param {Marks} marks */
export function markGraph(svg, record, marks) {
  for (const g of svg.querySelectorAll('g.node')) {
    const id = g.getAttribute('data-concept-id') ?? '';
    const concept = record.graph.concepts.find((c) => c.id === id);
    g.classList.toggle('target', marks.target === id);
    g.classList.toggle('descendant', marks.descendants.has(id));
    g.classList.toggle('violation', marks.violations.has(id));
    const value = g.querySelector('text.value');
    const next = marks.changed.get(id);
    if (value && concept)
      value.textContent = next ? `${concept.current_value} → ${next}` : concept.current_value;
  }
  for (const path of svg.querySelectorAll('path.edge')) {
    const rel = record.graph.relationships.find((r) => r.id === path.getAttribute('data-relationship-id'));
    const onPath =
      rel !== undefined &&
      (marks.target === rel.cause_id || marks.descendants.has(rel.cause_id)) &&
      marks.descendants.has(rel.effect_id);
    path.classList.toggle('active', onPath);
  }
}
