// `cgm demo --tiny`: the bundled example (examples/rainy-street) through the whole stack on the tiny models,
// ending in an HTML report. Steps: make the tiny model bundle if missing → start the local stack
// (Temporal + SeaweedFS, own state folder) → start `cgm worker light` and `cgm worker gpu` as processes →
// `cgm run` the example through counterfactualWorkflow with the user-supplied graph and interventions
// (they stand in for the VLM; the judge is skipped) → read the run manifest and every artifact back from
// S3, checksum-verified → report.html → stop workers and stack.
import type { ChildProcess } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { checkIntervention } from '../../core/graph/check-intervention.js';
import { descendants } from '../../core/graph/dag.js';
import { repairGraph } from '../../core/graph/repair.js';
import { validateGraph } from '../../core/graph/validate.js';
import { ConceptGraphSchema, InterventionSetSchema } from '../../core/schemas/paper.js';
import { REPO_ROOT, servicesUp } from '../../infra/local/services.js';
import { ensureTinyModels } from '../tiny-models.js';
import { runCli, startWorker } from './processes.js';
import { formatNumber, type ReportIntervention, renderDemoReport } from './report-html.js';
import { demoWorkerEnv, readFinishedRun, stopDemo } from './stack.js';

const EXAMPLE = join(REPO_ROOT, 'examples/rainy-street');

const log = (line: string) => process.stderr.write(`[demo] ${line}\n`);

export interface DemoOptions {
  out: string;
  models: string;
  steps: string;
  keepServices: boolean;
}

export async function runTinyDemo(values: DemoOptions): Promise<number> {
  const outDir = resolve(values.out);
  const exportDir = resolve(values.models);
  const modelDir = join(exportDir, 'bundle');
  await mkdir(outDir, { recursive: true });

  // 1. Models: the tiny randomly initialised SDXL-architecture bundle (real weights are a user's concern).
  await ensureTinyModels(exportDir, log);

  // 2. The local stack, on its own state folder and free ports.
  const stateDir = join(REPO_ROOT, '.state/demo-services');
  log('starting Temporal dev server and SeaweedFS');
  const { state } = await servicesUp({ stateDir, fresh: true, log: (l) => log(l) });
  const workers: ChildProcess[] = [];
  try {
    const stack = {
      temporal: `${state.endpoints.temporal.address} (namespace ${state.endpoints.temporal.namespace})`,
      s3: `${state.endpoints.s3.endpoint} bucket ${state.endpoints.s3.bucket}`,
    };
    log(`stack up: Temporal ${stack.temporal}; S3 ${stack.s3}`);

    // 3. The user-supplied graph and interventions, checked and planned exactly as the workflow does.
    const caption = (await readFile(join(EXAMPLE, 'caption.txt'), 'utf8')).trim();
    const graph = ConceptGraphSchema.parse(JSON.parse(await readFile(join(EXAMPLE, 'graph.json'), 'utf8')));
    const { interventions } = InterventionSetSchema.parse(
      JSON.parse(await readFile(join(EXAMPLE, 'interventions.json'), 'utf8')),
    );
    const validation = validateGraph(graph);
    const repaired = repairGraph(graph);
    log(
      `graph: ${graph.concepts.length} concepts, ${graph.relationships.length} edges, valid=${validation.valid}`,
    );

    // 4. Workers as real processes, configured like production: CGM_* variables only.
    const env = demoWorkerEnv(state, modelDir);
    workers.push(
      await startWorker('light', env, join(outDir, 'worker-light.log')),
      await startWorker('gpu', env, join(outDir, 'worker-gpu.log')),
    );
    log(`light and GPU workers are polling (their logs: ${relative(process.cwd(), outDir)}/worker-*.log)`);

    // 5. The example through counterfactualWorkflow: abduction once, then action + prediction.
    const runOut = await runCli(
      [
        'run',
        join(EXAMPLE, 'image.png'),
        '--graph',
        join(EXAMPLE, 'graph.json'),
        '--interventions',
        join(EXAMPLE, 'interventions.json'),
        '--caption',
        caption,
        '--steps',
        values.steps,
        '--no-judge',
      ],
      env,
    );
    const { workflowId, manifestRef, manifest, store } = await readFinishedRun(state, runOut);
    log(`workflow ${workflowId} ${manifest.status}: ${manifest.outputs.length} counterfactuals`);

    // 6. Every artifact back from S3 (checksums verified by the store) into the report folder.
    const runDir = join(outDir, 'run');
    await mkdir(runDir, { recursive: true });
    const fetchTo = async (ref: typeof manifestRef, file: string) => {
      await mkdir(join(runDir, file, '..'), { recursive: true });
      await writeFile(join(runDir, file), await store.get(ref));
      return relative(outDir, join(runDir, file));
    };
    const inputRef = manifest.input.preprocessed ?? manifest.input.image;
    const inputSrc = await fetchTo(inputRef, 'input.png');
    const byOutput = new Map<string, { image: string; masks: string[] }>();
    for (const o of manifest.outputs) {
      const image = await fetchTo(o.image, `${safe(o.interventionId)}/${o.method}.png`);
      const masks: string[] = [];
      for (const [k, m] of o.masks.entries())
        masks.push(await fetchTo(m, `${safe(o.interventionId)}/${o.method}-mask-${k}.png`));
      byOutput.set(`${o.interventionId}/${o.method}`, { image, masks });
    }
    const artifactCount = 2 + manifest.outputs.reduce((n, o) => n + 1 + o.masks.length, 0);
    log(`${artifactCount} artifacts read back from S3 and verified`);

    // 7. The report.
    const reportInterventions: ReportIntervention[] = interventions.map((iv) => {
      const check = checkIntervention(repaired.graph, iv);
      const csgPlan = manifest.plans.find((p) => p.interventionId === iv.id && p.method === 'csg');
      return {
        intervention: iv,
        descendants: descendants(repaired.graph, iv.target_concept_id),
        editedConcepts: csgPlan?.method === 'csg' ? csgPlan.concepts.map((c) => c.prompt) : [],
        violations: check.violations.map((v) => v.message),
        results: manifest.outputs
          .filter((o) => o.interventionId === iv.id)
          .map((o) => {
            const files = byOutput.get(`${o.interventionId}/${o.method}`);
            const prompts = csgPlan?.method === 'csg' ? csgPlan.concepts.map((c) => c.prompt) : [];
            return {
              method: o.method.toUpperCase(),
              image: { label: o.method, src: files?.image ?? '' },
              masks: (files?.masks ?? []).map((src, k) => ({ label: prompts[k] ?? `concept ${k}`, src })),
              facts: {
                'UNet sample evaluations': o.nfe,
                seconds: Math.round(o.seconds * 10) / 10,
                'S3 key': o.image.key,
              },
            };
          }),
      };
    });
    const html = renderDemoReport({
      title: 'FM-CGM demo: rainy street, tiny models',
      caption,
      original: { label: 'original (as inverted)', src: inputSrc },
      graph,
      repairs: repaired.repairs.map((r) => r.reason),
      interventions: reportInterventions,
      stack: {
        ...stack,
        workflow: `${workflowId} (${manifest.status}); hosts ${(manifest.hosts ?? []).join(', ')}`,
        'run manifest': `${manifestRef.bucket}/${manifestRef.key}`,
        'inversions (NFE)': manifest.inversions.map((i) => `${i.method} ${i.nfe}`).join(', '),
        'counterfactual NFE': formatNumber(manifest.outputs.reduce((n, o) => n + o.nfe, 0)),
        stages: Object.entries(manifest.stages)
          .map(
            ([k, v]) => `${k}: ${typeof v === 'object' && v && 'status' in v ? String(v.status) : String(v)}`,
          )
          .join(', '),
      },
      notes: [
        'The models are tiny and randomly initialised (no weights can be downloaded here): the images show that the pipeline runs end to end, not what SDXL would draw. Export real SDXL weights with `cgm export-models --model ID --out DIR` on a machine with internet.',
        'The causal graph and the interventions are user-supplied (examples/rainy-street) in the paper’s Fig. 2/3 JSON format, standing in for the VLM; the VLM judge is skipped (no VLM server here), LPIPS needs an LPIPS bundle on the GPU worker (`cgm worker gpu --lpips DIR`).',
        'Everything shown was produced by counterfactualWorkflow through real Temporal workers and read back from S3.',
        'Masks: one per CSG edit concept; each pixel shows the fraction of the concept’s active steps in which its mask (cross-attention M1 ∩ noise M2, docs/algorithm.md §2.6–2.7) was on.',
        `Steps: ${values.steps} inversion and sampling steps (the paper's 100), seed 0.`,
      ],
    });
    const reportPath = join(outDir, 'report.html');
    await writeFile(reportPath, html);
    log(`report: ${reportPath}`);
    process.stdout.write(`${reportPath}\n`);
    return 0;
  } finally {
    await stopDemo(workers, stateDir, values.keepServices, log);
  }
}

const safe = (id: string) => id.replace(/[^A-Za-z0-9._-]/g, '_');
