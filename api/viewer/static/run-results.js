// @ts-check
// One block per intervention: what changed (intervened value and propagated changes), violations, and
// original | CSG | DDPM | DDIM side by side with LPIPS, NFE, the judge's checklist and CSG's masks as
// overlays that can be toggled; for street-world batch runs also the true counterfactual and each
// output's scores against the ground truth.
import { el } from './dom.js';
import { fmtNfe, fmtNumber, methodLabel } from './format.js';

const METHOD_ORDER = ['csg', 'ddpm', 'ddim'];

/**
 * @typedef {{ url?: string, key: string }} Ref
 * @typedef {{ concept_name: string, expected_value: string, present: string }} Check
 * @typedef {{ verdict: { verdict: string, reasoning: string, concept_checks: Check[] }, checklistScore: number }} Judge
 * @typedef {{ intervened: number, descendants: number | null, preservation: number, psnrToTrue: number | null, ssimToTrue: number | null, psnrToOriginal: number, masks: { intervened: number | null, descendants: number | null } | null, trueImage: Ref | null }} GroundTruth
 * @typedef {{ interventionId: string, method: string, image: Ref, masks: Ref[], nfe: number, seconds: number, lpips?: number, judge?: Judge, groundTruth?: GroundTruth }} Output
 * @typedef {{ method: string, interventionId: string, concepts?: { prompt: string, conceptId: string, role: string }[], interventionalPrompt?: string }} Plan
 * @typedef {import('./graph-model.js').InterventionRecord} InterventionRecord
 */

/** @param {string} label @param {Ref | undefined} ref @param {string} cls */
function figure(label, ref, cls) {
  return el('figure', { class: cls }, [
    ref?.url
      ? el('img', { attrs: { src: ref.url, alt: label, 'data-artifact': ref.key } })
      : el('div', { class: 'missing', text: 'no image' }),
    el('figcaption', { text: label }),
  ]);
}

/** @param {Judge | undefined} judge */
function judgeBlock(judge) {
  if (!judge) return el('p', { class: 'note', text: 'judge: not evaluated' });
  const v = judge.verdict;
  return el('div', { class: 'judge' }, [
    el('p', {}, [
      'judge: ',
      el('strong', { class: `verdict ${v.verdict}`, text: v.verdict }),
      ` · checklist ${fmtNumber(judge.checklistScore, 2)}`,
    ]),
    el('table', { class: 'checklist' }, [
      el('thead', {}, [
        el('tr', {}, [
          el('th', { text: 'concept' }),
          el('th', { text: 'expected' }),
          el('th', { text: 'present' }),
        ]),
      ]),
      el(
        'tbody',
        {},
        v.concept_checks.map((c) =>
          el('tr', { class: c.present === 'yes' ? 'yes' : 'no' }, [
            el('td', { text: c.concept_name }),
            el('td', { text: c.expected_value }),
            el('td', { text: c.present }),
          ]),
        ),
      ),
    ]),
    el('p', { class: 'reasoning', text: v.reasoning }),
  ]);
}

/**
 * The CSG image with its masks stacked over it, each behind a checkbox.
 * @param {Output} out @param {Plan | undefined} plan
 */
function csgFigure(out, plan) {
  const overlays = out.masks.map((m, i) =>
    el('img', {
      class: 'mask',
      attrs: { src: m.url ?? null, alt: `CSG mask ${i + 1}`, 'data-artifact': m.key, hidden: true },
    }),
  );
  const toggles = out.masks.map((_, i) => {
    const concept = plan?.concepts?.[i];
    const box = el('input', { attrs: { type: 'checkbox', 'data-mask-index': i } });
    box.addEventListener('change', () => {
      overlays[i].hidden = !box.checked;
    });
    return el('label', { class: 'mask-toggle' }, [
      box,
      ` mask: ${concept ? `${concept.prompt} (${concept.role})` : `#${i + 1}`}`,
    ]);
  });
  return el('figure', { class: 'result csg' }, [
    el('div', { class: 'stack-images' }, [
      out.image.url
        ? el('img', {
            attrs: { src: out.image.url, alt: methodLabel('csg'), 'data-artifact': out.image.key },
          })
        : el('div', { class: 'missing', text: 'no image' }),
      ...overlays,
    ]),
    el('figcaption', { text: methodLabel('csg') }),
    el('p', { class: 'csg-base', text: csgBaseText(plan) }),
    el('div', { class: 'mask-toggles' }, toggles),
  ]);
}

/**
 * Which reading of the paper's Eq. 12 made this image (docs/algorithm.md "Two readings of Eq. 12").
 * @param {Plan | undefined} plan
 */
export function csgBaseText(plan) {
  if (!plan) return '';
  return plan.interventionalPrompt
    ? `base: ε on “${plan.interventionalPrompt}” (Eq. 12 as written), masked terms added`
    : 'base: ε_u (LEDITS++’s form), masked terms added';
}

/** @param {number | null | undefined} x */
const pct = (x) => (typeof x === 'number' ? `${Math.round(x * 100)}%` : '—');

/** The output scored against the world's ground truth, as list items. @param {GroundTruth} g */
export function groundTruthFacts(g) {
  const items = [
    `ground truth: intervened ${g.intervened === 1 ? 'reads as set' : 'not read'}`,
    `descendants right ${pct(g.descendants)}`,
    `non-descendants kept ${pct(g.preservation)}`,
    `PSNR / SSIM to true ${fmtNumber(g.psnrToTrue, 1)} dB / ${fmtNumber(g.ssimToTrue)}`,
    `PSNR to original ${fmtNumber(g.psnrToOriginal, 1)} dB`,
  ];
  if (g.masks)
    items.push(
      `mask in region: intervened ${pct(g.masks.intervened)}, descendants ${pct(g.masks.descendants)}`,
    );
  return items;
}

/** @param {Output} out */
function facts(out) {
  return el('ul', { class: 'facts' }, [
    el('li', { text: `LPIPS ${fmtNumber(out.lpips)}` }),
    el('li', { text: `NFE ${fmtNfe(out.nfe)}` }),
    el('li', { text: `${fmtNumber(out.seconds, 1)} s` }),
    ...(out.groundTruth
      ? groundTruthFacts(out.groundTruth).map((t) => el('li', { class: 'truth', text: t }))
      : []),
  ]);
}

/**
 * @param {InterventionRecord} record
 * @param {{ outputs: Output[], plans: Plan[], original: Ref | undefined }} manifest
 */
export function interventionBlock(record, manifest) {
  const iv = record.intervention;
  const outputs = manifest.outputs
    .filter((o) => o.interventionId === iv.id)
    .sort((a, b) => METHOD_ORDER.indexOf(a.method) - METHOD_ORDER.indexOf(b.method));
  const changes = el('ul', { class: 'changes' }, [
    el('li', {
      class: 'target',
      text: `${iv.target_concept_name ?? iv.target_concept_id}: ${iv.original_value ?? ''} → ${iv.new_value} (intervened)`,
    }),
    ...iv.propagated_changes.map((p) =>
      el('li', {
        class: 'descendant',
        text: `${p.concept_name ?? p.concept_id}: ${p.original_value ?? ''} → ${p.new_value}${p.reason ? ` — ${p.reason}` : ''}`,
      }),
    ),
  ]);
  const violations = record.check?.violations ?? [];
  const truth = outputs.find((o) => o.groundTruth?.trueImage)?.groundTruth?.trueImage ?? undefined;
  const row = el('div', { class: 'results-row' }, [
    figure('original', manifest.original, 'result original'),
    ...outputs.map((o) => {
      const plan = manifest.plans.find((p) => p.interventionId === iv.id && p.method === o.method);
      const fig =
        o.method === 'csg'
          ? csgFigure(o, plan)
          : figure(methodLabel(o.method), o.image, `result ${o.method}`);
      fig.dataset.method = o.method;
      fig.append(facts(o), judgeBlock(o.judge));
      return fig;
    }),
    ...(truth ? [figure('true counterfactual (same noise U)', truth, 'result truth')] : []),
  ]);
  return el('article', { class: 'intervention', attrs: { 'data-intervention-id': iv.id } }, [
    el('h3', { text: `${iv.id}: do(${iv.target_concept_name ?? iv.target_concept_id} = ${iv.new_value})` }),
    changes,
    ...(violations.length > 0
      ? [
          el(
            'ul',
            { class: 'violations' },
            violations.map((v) => el('li', { text: `${v.code}: ${v.message}` })),
          ),
        ]
      : []),
    outputs.length > 0 ? row : el('p', { class: 'note', text: 'no outputs for this intervention' }),
  ]);
}
