// `cgm demo` (default): one scene of the causal street world through the whole stack on the trained
// world model, with the world VLM standing in for Qwen3-VL. Steps: export the committed world model if
// its bundle is missing → render one data set scene with its exogenous noise (`cgm world dataset`) → start
// the local stack, the world VLM (`cgm world vlm`, a real OpenAI-compatible server process) and both
// workers → `cgm run` the scene through counterfactualWorkflow on the VLM path (description, extraction,
// proposal with propagation, judge) → read the manifest and artifacts back from S3 → render the true
// counterfactual of every intervention the VLM proposed (same noise, `cgm world render --scene`) → score
// each method's output with the oracle against the SCM and the true image → report.html.
import type { ChildProcess } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { checkIntervention } from '../../core/graph/check-intervention.js';
import { descendants as graphDescendants } from '../../core/graph/dag.js';
import { loadWorldDataset } from '../../core/world/dataset.js';
import { decodeRgb, type GroundTruthScores, groundTruthScores } from '../../core/world/ground-truth.js';
import { agreement, WorldOracle } from '../../core/world/oracle.js';
import { counterfactual, loadWorldScm, type WorldDo, worldConceptIds } from '../../core/world/scm.js';
import { valueForText } from '../../core/world/vlm-answers.js';
import { REPO_ROOT, servicesUp } from '../../infra/local/services.js';
import { CliError } from '../cli-error.js';
import { ensureWorldBundle } from '../world-model.js';
import { runCli, startWorker, startWorldVlm } from './processes.js';
import { formatNumber, type ReportIntervention, renderDemoReport } from './report-html.js';
import { demoWorkerEnv, readFinishedRun, stopDemo } from './stack.js';

const log = (line: string) => process.stderr.write(`[demo] ${line}\n`);
const safe = (id: string) => id.replace(/[^A-Za-z0-9._-]/g, '_');
const pct = (v: number | null) => (v === null ? 'n/a' : `${Math.round(v * 100)}%`);

export interface WorldDemoOptions {
  out: string;
  steps: string;
  /** Seed of the one-scene world data set the demo renders. */
  sceneSeed: string;
  keepServices: boolean;
}

export async function runWorldDemo(values: WorldDemoOptions): Promise<number> {
  const outDir = resolve(values.out);
  await mkdir(outDir, { recursive: true });
  const scm = loadWorldScm();

  // 1. The trained world model as an engine bundle (the unchanged export tool, cached by weight hash).
  const modelDir = await ensureWorldBundle(log);
  log(`world model bundle: ${relative(REPO_ROOT, modelDir)}`);

  // 2. One scene with its exogenous noise, so its true counterfactuals can be rendered.
  const worldDir = join(outDir, 'world');
  await runCli(['world', 'dataset', '--n', '1', '--seed', values.sceneSeed, '--out', worldDir]);
  const scene = loadWorldDataset(worldDir, scm).scenes[0];
  log(`scene: ${scene.caption}`);

  const stateDir = join(REPO_ROOT, '.state/demo-services');
  log('starting Temporal dev server and SeaweedFS');
  const { state } = await servicesUp({ stateDir, fresh: true, log: (l) => log(l) });
  const children: ChildProcess[] = [];
  try {
    // 3. The world VLM, a separate server process like vLLM, and both workers pointed at it.
    const vlm = await startWorldVlm(['--dataset', worldDir]);
    children.push(vlm.child);
    log(`world VLM at ${vlm.baseURL}`);
    const env = demoWorkerEnv(state, modelDir, { CGM_VLM_BASE_URL: vlm.baseURL });
    children.push(
      await startWorker('light', env, join(outDir, 'worker-light.log')),
      await startWorker('gpu', env, join(outDir, 'worker-gpu.log')),
    );
    log(`light and GPU workers are polling (their logs: ${relative(process.cwd(), outDir)}/worker-*.log)`);

    // 4. The scene through counterfactualWorkflow on the VLM path: no caption, graph or interventions given.
    const runOut = await runCli(['run', scene.imagePath, '--steps', values.steps], env);
    const { workflowId, manifestRef, manifest, store } = await readFinishedRun(state, runOut);
    log(`workflow ${workflowId} ${manifest.status}: ${manifest.outputs.length} counterfactuals`);
    if (!manifest.graph)
      throw new CliError('the run has no concept graph: the VLM extraction did not happen', 1);
    const graph = manifest.graph.graph;

    // 5. Every artifact back from S3 (checksums verified by the store).
    const runDir = join(outDir, 'run');
    const fetchTo = async (ref: typeof manifestRef, file: string) => {
      await mkdir(join(runDir, file, '..'), { recursive: true });
      const bytes = await store.get(ref);
      await writeFile(join(runDir, file), bytes);
      return { src: relative(outDir, join(runDir, file)), bytes };
    };
    const input = await fetchTo(manifest.input.preprocessed ?? manifest.input.image, 'input.png');

    // 6. Ground truth: the SCM's counterfactual of each proposed do() with the scene's own noise, its image,
    // and the oracle's reading of every output.
    const oracle = await WorldOracle.open(scm);
    const { attributeOf } = worldConceptIds(scm);
    const originalRgb = await decodeRgb(input.bytes);
    const [originalReading] = await oracle.read([input.bytes]);
    const reportInterventions: ReportIntervention[] = [];
    const summary: Record<string, GroundTruthScores[]> = {};
    try {
      for (const record of manifest.interventions) {
        const iv = record.intervention;
        const attribute = attributeOf.get(iv.target_concept_id);
        const a = scm.attributes.find((x) => x.id === attribute);
        const value = a ? valueForText(a, iv.new_value) : undefined;
        if (!a || !value) {
          log(
            `intervention ${iv.id}: ${iv.target_concept_id} = '${iv.new_value}' is not a world do(); no ground truth`,
          );
          continue;
        }
        const doMap: WorldDo = { [a.id]: value };
        const truth = counterfactual(scm, scene.u.noise, doMap);
        await mkdir(join(runDir, safe(iv.id)), { recursive: true });
        await runCli([
          'world',
          'render',
          '--scene',
          join(worldDir, 'scenes', `${scene.id}.json`),
          '--do',
          `${a.id}=${value}`,
          '--out',
          join(runDir, safe(iv.id), 'factual.png'),
        ]);
        const trueSrc = relative(outDir, join(runDir, safe(iv.id), 'factual-counterfactual.png'));
        const trueRgb = await decodeRgb(await readFile(join(outDir, trueSrc)));
        const csgPlan = manifest.plans.find((p) => p.interventionId === iv.id && p.method === 'csg');
        const prompts = csgPlan?.method === 'csg' ? csgPlan.concepts.map((c) => c.prompt) : [];
        const results: ReportIntervention['results'] = [];
        for (const o of manifest.outputs.filter((x) => x.interventionId === iv.id)) {
          const image = await fetchTo(o.image, `${safe(iv.id)}/${o.method}.png`);
          const masks = [];
          for (const [k, m] of o.masks.entries())
            masks.push({
              label: prompts[k] ?? `concept ${k}`,
              src: (await fetchTo(m, `${safe(iv.id)}/${o.method}-mask-${k}.png`)).src,
            });
          const [reading] = await oracle.read([image.bytes]);
          const scores = groundTruthScores({
            scm,
            original: scene.attributes,
            do: doMap,
            truth,
            reading,
            generated: await decodeRgb(image.bytes),
            trueImage: trueRgb,
            originalImage: originalRgb,
          });
          summary[o.method] = [...(summary[o.method] ?? []), scores];
          const misread = scm.attributes.filter((x) => reading[x.id].value !== truth[x.id]);
          results.push({
            method: o.method.toUpperCase(),
            image: { label: o.method, src: image.src },
            masks,
            facts: {
              'VLM judge (oracle)': o.judge
                ? `${o.judge.verdict.verdict}, ${formatNumber(o.judge.checklistScore * 100)}% of the checklist`
                : 'not judged',
              [`${a.name} reads ${value}`]: scores.intervened ? 'yes' : `no (${reading[a.id].value})`,
              'descendants right': pct(scores.descendants),
              'non-descendants kept': pct(scores.preservation),
              'oracle disagrees with the SCM on':
                misread.map((x) => `${x.id}=${reading[x.id].value}`).join(', ') || 'nothing',
              'PSNR / SSIM to true counterfactual': `${formatNumber(scores.psnrToTrue)} dB / ${formatNumber(scores.ssimToTrue)}`,
              'PSNR to original': `${formatNumber(scores.psnrToOriginal)} dB`,
              'UNet sample evaluations': o.nfe,
            },
          });
        }
        results.push({
          method: 'TRUE COUNTERFACTUAL',
          image: { label: 'true (same noise U)', src: trueSrc },
          masks: [],
          facts: Object.fromEntries(
            scm.attributes.map((x) => [
              x.id,
              truth[x.id] === scene.attributes[x.id]
                ? truth[x.id]
                : `${truth[x.id]} (was ${scene.attributes[x.id]})`,
            ]),
          ),
        });
        const check = checkIntervention(graph, iv);
        reportInterventions.push({
          intervention: iv,
          descendants: graphDescendants(graph, iv.target_concept_id),
          editedConcepts: prompts,
          violations: check.violations.map((v) => v.message),
          results,
        });
      }
    } finally {
      await oracle.release();
    }
    const mean = (xs: (number | null)[]) => {
      const v = xs.filter((x): x is number => x !== null);
      return v.length ? v.reduce((s, x) => s + x, 0) / v.length : null;
    };
    const summaryLines = Object.entries(summary).map(
      ([m, s]) =>
        `${m.toUpperCase()}: intervened ${pct(mean(s.map((x) => x.intervened)))}, descendants ${pct(mean(s.map((x) => x.descendants)))}, non-descendants kept ${pct(mean(s.map((x) => x.preservation)))}, PSNR to true ${formatNumber(mean(s.map((x) => x.psnrToTrue)) ?? Number.NaN)} dB, SSIM to true ${formatNumber(mean(s.map((x) => x.ssimToTrue)) ?? Number.NaN)}`,
    );
    for (const l of summaryLines) log(l);

    const html = renderDemoReport({
      title: 'FM-CGM demo: the causal street world, trained world model',
      caption: manifest.basePrompt?.text ?? scene.caption,
      original: { label: 'original (as inverted)', src: input.src },
      graph,
      repairs: manifest.graph.repairs.map((r) => r.reason),
      interventions: reportInterventions,
      stack: {
        workflow: `${workflowId} (${manifest.status}); hosts ${(manifest.hosts ?? []).join(', ')}`,
        'run manifest': `${manifestRef.bucket}/${manifestRef.key}`,
        'world VLM': `${vlm.baseURL} (cgm world vlm --dataset ${relative(REPO_ROOT, worldDir)})`,
        'model bundle': relative(REPO_ROOT, modelDir),
        'oracle reads the original as': Object.entries(originalReading)
          .map(([k, r]) => `${k}=${r.value}`)
          .join(', '),
        'oracle agrees with the scene': pct(agreement(originalReading, scene.attributes)),
        'VLM calls': manifest.vlmAttempts.map((v) => v.prompt).join(', '),
        'ground truth per method': summaryLines.join(' · '),
      },
      notes: [
        'The model is a small SDXL-architecture model (two CLIP text encoders, AutoencoderKL, text_time UNet) trained on CPU on this world (`cgm world train`; world/model/record.json). The scene and its true counterfactuals are rendered by the world’s own renderer from its structural causal model (world/scm.json) with the same exogenous noise U.',
        'The VLM is the world VLM (`cgm world vlm`): an OpenAI-compatible server that reads the image with the oracle (a CNN trained on renders) and answers the paper’s prompts: scene description, concept graph (the SCM), three interventions propagated by the SCM, and the judge. With --dataset it knows this scene’s exact noise, so its propagation is the true one.',
        'Ground truth per output: does the oracle read the intervened value; the share of the target’s descendants read as the SCM’s counterfactual; the share of the other attributes read unchanged; PSNR/SSIM to the true counterfactual image and PSNR to the original.',
        'Masks: one per CSG edit concept; each pixel shows the fraction of the concept’s active steps in which its mask (cross-attention M1 ∩ noise M2) was on.',
        `Steps: ${values.steps} inversion and sampling steps (the paper's 100). The random tiny model demo: \`cgm demo --tiny\`.`,
      ],
    });
    const reportPath = join(outDir, 'report.html');
    await writeFile(reportPath, html);
    log(`report: ${reportPath}`);
    process.stdout.write(`${reportPath}\n`);
    return 0;
  } finally {
    await stopDemo(children, stateDir, values.keepServices, log);
  }
}
