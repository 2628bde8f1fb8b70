// `cgm demo`: the bundled example (examples/rainy-street) through the system on the tiny models, ending
// in an HTML report. Steps: make the tiny model bundle if missing → start the local stack (Temporal +
// SeaweedFS, own state folder) → validate the user-supplied graph and plan the CSG edits → run the
// engine (`cgm edit`: one inversion, every intervention × method) → store every artifact in S3 and read
// it back with checksum verification → report.html → stop the stack. The user-supplied graph stands in
// for the VLM, which the demo does not need.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createArtifactStore, createS3Client } from '../../core/artifacts/index.js';
import { checkIntervention } from '../../core/graph/check-intervention.js';
import { descendants } from '../../core/graph/dag.js';
import { planEdits } from '../../core/graph/plan-edits.js';
import { repairGraph } from '../../core/graph/repair.js';
import { validateGraph } from '../../core/graph/validate.js';
import { ConceptGraphSchema, InterventionSetSchema } from '../../core/schemas/paper.js';
import { REPO_ROOT, servicesDown, servicesUp } from '../../infra/local/services.js';
import { CliError } from '../cli-error.js';
import { type ReportIntervention, renderDemoReport } from '../demo/report-html.js';

const EXAMPLE = join(REPO_ROOT, 'examples/rainy-street');
const CLI = join(REPO_ROOT, 'bin/cgm.mjs');

interface EditSummary {
  input: string;
  size: { height: number; width: number };
  model: { name: string; manifestSha256: string; device: string };
  totals: {
    unetCalls: number;
    sampleEvaluations: number;
    seconds: number;
    paperNaiveSampleEvaluations: number;
  };
  stages: { stage: string; seconds: number; nfe: { unetCalls: number; sampleEvaluations: number } }[];
  results: {
    interventionId: string;
    method: string;
    file: string;
    nfe: { unetCalls: number; sampleEvaluations: number };
    masks: { file: string; prompt: string; conceptId?: string; role?: string }[];
  }[];
}

const log = (line: string) => process.stderr.write(`[demo] ${line}\n`);

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      out: { type: 'string', default: 'out/demo' },
      models: { type: 'string', default: '.cache/models/tiny' },
      steps: { type: 'string', default: '100' },
      'keep-services': { type: 'boolean', default: false },
    },
  });
  const outDir = resolve(values.out as string);
  const exportDir = resolve(values.models as string);
  const modelDir = join(exportDir, 'bundle');
  await mkdir(outDir, { recursive: true });

  // 1. Models: the tiny randomly initialised SDXL-architecture bundle (real weights are a user's concern).
  if (!existsSync(join(modelDir, 'cgm-model.json'))) {
    log(`no model bundle in ${modelDir}: exporting the tiny models`);
    await runCli(['export-models', '--tiny', '--out', exportDir]);
  }

  // 2. The local stack, on its own state folder and free ports.
  const stateDir = join(REPO_ROOT, '.state/demo-services');
  log('starting Temporal dev server and SeaweedFS');
  const { state } = await servicesUp({ stateDir, fresh: true, log: (l) => log(l) });
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

    // 4. The engine: one inversion, all interventions × methods, in a worker thread.
    const editDir = join(outDir, 'edits');
    await runCli([
      'edit',
      join(EXAMPLE, 'image.png'),
      '--model',
      modelDir,
      '--graph',
      join(EXAMPLE, 'graph.json'),
      '--interventions',
      join(EXAMPLE, 'interventions.json'),
      '--out',
      editDir,
      '--prompt',
      caption,
      '--steps',
      values.steps as string,
      '--seed',
      '0',
    ]);
    const summary = JSON.parse(await readFile(join(editDir, 'summary.json'), 'utf8')) as EditSummary;

    // 5. Every artifact into S3 (content-addressed) and back, checksum-verified.
    const s3 = state.endpoints.s3;
    const store = createArtifactStore({
      client: createS3Client({
        endpoint: s3.endpoint,
        region: s3.region,
        accessKeyId: s3.accessKeyId,
        secretAccessKey: s3.secretAccessKey,
      }),
      bucket: s3.bucket,
    });
    const files = [summary.input, ...summary.results.flatMap((r) => [r.file, ...r.masks.map((m) => m.file)])];
    const refs: Record<string, string> = {};
    for (const file of files) {
      const bytes = new Uint8Array(await readFile(join(editDir, file)));
      const { ref } = await store.put(bytes, { contentType: 'image/png' });
      const back = await store.get(ref);
      if (back.length !== bytes.length) throw new CliError(`S3 round trip changed ${file}`, 1);
      refs[file] = ref.key;
    }
    log(`${files.length} artifacts stored in S3 and verified`);

    // 6. The report.
    const rel = (file: string) => relative(outDir, join(editDir, file));
    const reportInterventions: ReportIntervention[] = interventions.map((iv) => {
      const check = checkIntervention(repaired.graph, iv);
      const csgPlan = planEdits(repaired.graph, iv, { sourcePrompt: caption, methods: ['csg'] })[0];
      return {
        intervention: iv,
        descendants: descendants(repaired.graph, iv.target_concept_id),
        editedConcepts: csgPlan.method === 'csg' ? csgPlan.concepts.map((c) => c.prompt) : [],
        violations: check.violations.map((v) => v.message),
        results: summary.results
          .filter((r) => r.interventionId === iv.id)
          .map((r) => ({
            method: r.method.toUpperCase(),
            image: { label: `${r.method}`, src: rel(r.file) },
            masks: r.masks.map((m) => ({ label: m.prompt, src: rel(m.file) })),
            facts: {
              'UNet sample evaluations': r.nfe.sampleEvaluations,
              'S3 key': refs[r.file] ?? '',
            },
          })),
      };
    });
    const html = renderDemoReport({
      title: 'FM-CGM demo: rainy street, tiny models',
      caption,
      original: { label: 'original (as inverted)', src: rel(summary.input) },
      graph,
      repairs: repaired.repairs.map((r) => r.reason),
      interventions: reportInterventions,
      stack: {
        ...stack,
        model: `${summary.model.name} (${summary.model.device}, manifest sha256 ${summary.model.manifestSha256.slice(0, 12)}…)`,
        'image size': `${summary.size.width}×${summary.size.height}`,
        'UNet calls / sample evaluations': `${summary.totals.unetCalls} / ${summary.totals.sampleEvaluations} (paper-naive: ${summary.totals.paperNaiveSampleEvaluations})`,
        'engine seconds': String(summary.totals.seconds),
      },
      notes: [
        'The models are tiny and randomly initialised (no weights can be downloaded here): the images show that the pipeline runs end to end, not what SDXL would draw. Export real SDXL weights with `cgm export-models --model ID --out DIR` on a machine with internet.',
        'The causal graph and the interventions are user-supplied (examples/rainy-street) in the paper’s Fig. 2/3 JSON format, standing in for the VLM.',
        'Masks: one per CSG edit concept; each pixel shows the fraction of the concept’s active steps in which its mask (cross-attention M1 ∩ noise M2, spec §2.6–2.7) was on.',
        `Steps: ${values.steps} inversion and sampling steps (the paper's 100), seed 0.`,
      ],
    });
    const reportPath = join(outDir, 'report.html');
    await writeFile(reportPath, html);
    log(`report: ${reportPath}`);
    process.stdout.write(`${reportPath}\n`);
    return 0;
  } finally {
    if (!values['keep-services']) {
      const down = await servicesDown(stateDir);
      log(`stack stopped (${down.stopped.map((s) => `${s.name}: ${s.outcome}`).join(', ')})`);
    }
  }
}

function runCli(args: string[]): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolvePromise() : reject(new CliError(`cgm ${args[0]} failed with exit code ${code}`, 1)),
    );
  });
}
