import { describe, expect, it } from 'vitest';
import { escapeHtml, formatNumber, graphSvg, renderDemoReport } from '../../cli/demo/report-html.js';
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
  it('shows a batched edit call’s NFE share to two decimals and whole numbers as they are', () => {
    expect(formatNumber(850 / 3)).toBe('283.33');
    expect(formatNumber(170)).toBe('170');
    expect(formatNumber(2.5)).toBe('2.5');
    expect(formatNumber(0.004)).toBe('0');
    const html = renderDemoReport({
      title: 'demo',
      caption: 'a street',
      original: { label: 'original', src: 'original.png' },
      graph,
      repairs: [],
      interventions: [
        {
          intervention: {
            id: 'intervention_1',
            target_concept_id: 'c1',
            target_concept_name: 'weather',
            intervention_description: 'make it sunny',
            original_value: 'rainy',
            new_value: 'sunny',
            propagated_changes: [],
            final_concept_states: {},
            generation_prompt: 'a sunny street',
          },
          descendants: ['c2'],
          editedConcepts: ['sunny'],
          violations: [],
          results: [
            {
              method: 'CSG',
              image: { label: 'csg', src: 'csg.png' },
              masks: [],
              facts: { 'UNet sample evaluations': 850 / 3, 'S3 key': 'outputs/1.png' },
            },
          ],
        },
      ],
      stack: {},
      notes: [],
    });
    expect(html).toContain('<dt>UNet sample evaluations</dt><dd>283.33</dd>');
    expect(html).toContain('<dd>outputs/1.png</dd>');
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
