// The demo's report: one self-contained HTML page a person can open (images side by side, the causal
// graph drawn in layers, the edit plan and the numbers). Every piece of text that came from a file
// or a model is escaped: captions and VLM answers are untrusted.
import type { ConceptGraph, Intervention } from '../../core/schemas/paper.js';

export interface ReportImage {
  label: string;
  /** Path relative to the report file. */
  src: string;
}

export interface ReportMethodResult {
  method: string;
  image: ReportImage;
  masks: ReportImage[];
  /** Free-form facts shown under the image (NFE, seconds, LPIPS, …); numbers go through formatNumber. */
  facts: Record<string, string | number>;
}

export interface ReportIntervention {
  intervention: Intervention;
  descendants: string[];
  editedConcepts: string[];
  violations: string[];
  results: ReportMethodResult[];
}

export interface DemoReportInput {
  title: string;
  caption: string;
  original: ReportImage;
  graph: ConceptGraph;
  repairs: string[];
  interventions: ReportIntervention[];
  stack: Record<string, string>;
  notes: string[];
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * A number as a person reads it: whole numbers as they are, others to two decimals without trailing
 * zeros. An output's NFE is a share of a batched edit call (e.g. 26.666… of a call shared by three).
 */
export function formatNumber(n: number): string {
  if (!Number.isFinite(n) || Number.isInteger(n)) return String(n);
  return String(Number(n.toFixed(2)));
}

const img = (i: ReportImage) =>
  `<figure><img src="${escapeHtml(i.src)}" alt="${escapeHtml(i.label)}"><figcaption>${escapeHtml(i.label)}</figcaption></figure>`;

/** Layered drawing: a node's layer is the length of the longest path reaching it. */
export function graphSvg(
  graph: ConceptGraph,
  highlight: { target?: string; descendants?: string[] } = {},
): string {
  const layer = new Map<string, number>(graph.concepts.map((c) => [c.id, 0]));
  for (let pass = 0; pass < graph.concepts.length; pass++) {
    for (const r of graph.relationships) {
      const next = (layer.get(r.cause_id) ?? 0) + 1;
      if (layer.has(r.effect_id) && next > (layer.get(r.effect_id) ?? 0)) layer.set(r.effect_id, next);
    }
  }
  const byLayer = new Map<number, string[]>();
  for (const c of graph.concepts) {
    const l = layer.get(c.id) ?? 0;
    byLayer.set(l, [...(byLayer.get(l) ?? []), c.id]);
  }
  const W = 170;
  const H = 54;
  const pos = new Map<string, { x: number; y: number }>();
  for (const [l, ids] of byLayer) {
    for (const [i, id] of ids.entries()) pos.set(id, { x: 10 + i * (W + 20), y: 10 + l * (H + 40) });
  }
  const width = Math.max(...[...pos.values()].map((p) => p.x)) + W + 10;
  const height = Math.max(...[...pos.values()].map((p) => p.y)) + H + 10;
  const desc = new Set(highlight.descendants ?? []);
  const edges = graph.relationships
    .map((r) => {
      const a = pos.get(r.cause_id);
      const b = pos.get(r.effect_id);
      if (!a || !b) return '';
      return `<line x1="${a.x + W / 2}" y1="${a.y + H}" x2="${b.x + W / 2}" y2="${b.y}" class="edge" marker-end="url(#arrow)"/>`;
    })
    .join('');
  const nodes = graph.concepts
    .map((c) => {
      const p = pos.get(c.id);
      if (!p) return '';
      const cls = c.id === highlight.target ? 'node target' : desc.has(c.id) ? 'node descendant' : 'node';
      return `<g class="${cls}"><rect x="${p.x}" y="${p.y}" width="${W}" height="${H}" rx="8"/><text x="${p.x + 8}" y="${p.y + 21}">${escapeHtml(`${c.id} · ${c.name}`)}</text><text x="${p.x + 8}" y="${p.y + 41}" class="value">${escapeHtml(c.current_value)}</text></g>`;
    })
    .join('');
  return `<svg viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="causal graph"><defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z"/></marker></defs>${edges}${nodes}</svg>`;
}

export function renderDemoReport(r: DemoReportInput): string {
  const interventions = r.interventions
    .map((iv) => {
      const i = iv.intervention;
      const results = iv.results
        .map(
          (m) =>
            `<div class="result"><h4>${escapeHtml(m.method)}</h4>${img(m.image)}<div class="masks">${m.masks.map(img).join('')}</div><dl>${Object.entries(
              m.facts,
            )
              .map(
                ([k, v]) =>
                  `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(typeof v === 'number' ? formatNumber(v) : v)}</dd>`,
              )
              .join('')}</dl></div>`,
        )
        .join('');
      return `<section class="intervention"><h3>${escapeHtml(i.id)}: do(${escapeHtml(i.target_concept_name)} = ${escapeHtml(i.new_value)})</h3>
<p>${escapeHtml(i.intervention_description)}</p>
<p><b>Descendants of the target:</b> ${escapeHtml(iv.descendants.join(', ') || 'none')} · <b>CSG edit concepts:</b> ${escapeHtml(iv.editedConcepts.join(' | '))}</p>
${iv.violations.length ? `<p class="warn"><b>Graph violations (not edited):</b> ${escapeHtml(iv.violations.join('; '))}</p>` : ''}
<p><b>Generation prompt (baselines):</b> ${escapeHtml(i.generation_prompt)}</p>
<div class="graph">${graphSvg(r.graph, { target: i.target_concept_id, descendants: iv.descendants })}</div>
<div class="row">${img(r.original)}${results}</div></section>`;
    })
    .join('\n');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(r.title)}</title><style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1d232a;max-width:1400px}
h1{font-size:22px}h3{margin-top:32px}figure{margin:0 8px 8px 0;display:inline-block;text-align:center}
figure img{width:192px;height:192px;image-rendering:pixelated;border:1px solid #ccd}
.masks figure img{width:64px;height:64px}.masks figcaption{font-size:11px;max-width:64px;overflow-wrap:anywhere}
.row{display:flex;flex-wrap:nowrap;overflow-x:auto;align-items:flex-start;gap:12px}.result{border-left:2px solid #e4e7eb;padding-left:10px;width:220px;flex:none}.masks{display:flex;flex-wrap:wrap}
dl{display:grid;grid-template-columns:auto auto;gap:0 10px;font-size:12px;overflow-wrap:anywhere}dt{color:#667}dd{margin:0}
.node rect{fill:#f4f6f8;stroke:#8895a5}.node.target rect{fill:#ffe2c2;stroke:#d2691e}.node.descendant rect{fill:#dff1ff;stroke:#2f7fc1}
.node text{font-size:12px}.node .value{fill:#556;font-style:italic}.edge{stroke:#8895a5;stroke-width:1.5}marker path{fill:#8895a5}
.warn{color:#a33}table{border-collapse:collapse}td,th{border:1px solid #dde;padding:2px 8px;text-align:left}
</style></head><body>
<h1>${escapeHtml(r.title)}</h1>
<p><b>Caption (base prompt Y):</b> ${escapeHtml(r.caption)}</p>
<p><b>Scene summary:</b> ${escapeHtml(r.graph.scene_summary)}</p>
${r.repairs.length ? `<p class="warn"><b>Graph repairs:</b> ${escapeHtml(r.repairs.join('; '))}</p>` : '<p>Graph: valid DAG, no repairs.</p>'}
<div class="graph">${graphSvg(r.graph)}</div>
<h2>Counterfactuals</h2>
${interventions}
<h2>Stack</h2><table>${Object.entries(r.stack)
    .map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`)
    .join('')}</table>
<h2>Notes</h2><ul>${r.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul>
</body></html>
`;
}
