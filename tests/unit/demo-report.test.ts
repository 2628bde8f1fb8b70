import { describe, expect, it } from 'vitest';
import { escapeHtml, graphSvg, renderDemoReport } from '../../cli/demo/report-html.js';
import type { ConceptGraph } from '../../core/schemas/paper.js';

const graph: ConceptGraph = {
  concepts: [
    { id: 'c1', name: 'weather', current_value: 'rainy', description: '' },
    { id: 'c2', name: 'road <b>surface</b>', current_value: 'wet road', description: '' },
    { id: 'c3', name: 'buildings', current_value: 'brick', description: '' },
  ],
  relationships: [{ id: 'r1', cause_id: 'c1', effect_id: 'c2', description: '' }],
  scene_summary: 'a street <script>alert(1)</script>',
};

describe('demo report', () => {
  it('escapes markup from captions, graphs and model answers', () => {
    expect(escapeHtml(`<img src=x onerror="a">'&`)).toBe('&#60;img src=x onerror=&#34;a&#34;&#62;&#39;&#38;');
    const html = renderDemoReport({
      title: 'demo',
      caption: '<script>evil()</script>',
      original: { label: 'original', src: 'original.png' },
      graph,
      repairs: [],
      interventions: [],
      stack: {},
      notes: [],
    });
    expect(html).not.toContain('<script>');
    expect(html).toContain('&#60;script&#62;evil()');
  });
  it('draws one node per concept and one edge per relationship, highlighting target and descendants', () => {
    const svg = graphSvg(graph, { target: 'c1', descendants: ['c2'] });
    expect(svg.match(/<rect /g)?.length).toBe(3);
    expect(svg.match(/<line /g)?.length).toBe(1);
    expect(svg).toContain('class="node target"');
    expect(svg).toContain('class="node descendant"');
    expect(svg).toContain('road &#60;b&#62;surface');
  });
});
