// `cgm report (RESULTS.jsonl | --batch ID) [--out DIR] [--format md,csv,json] [--bootstrap N] [--seed S]`:
// the evaluation report (paper Table 1 with 95% bootstrap intervals, VLM-Eff by node type, verdicts,
// failures, time and NFE) from a local JSONL of per-counterfactual evaluation records
// (core/eval/results.ts), or from the records a finished batch workflow stored in S3 (--batch).
// Without --out, one format is printed on stdout (csv: table1.csv). With --out, every chosen format
// is written to DIR (report.md, report.json, table1.csv, node-types.csv, verdicts.csv, cost.csv,
// failures.csv) and the written paths are printed; --grid N adds grid.png: N images per data set, a
// row per intervention, columns original | CSG | DDPM | DDIM, from the records' local image paths
// (relative to the results file; S3 images and missing paths show as grey cells).
// Exit codes: 0 written; 2 bad arguments or unreadable/malformed records (stderr names file:line and field).
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { BatchImage } from '../../core/eval/batch-manifest.js';
import { DATASET_LABELS } from '../../core/eval/datasets/types.js';
import { JsonlError } from '../../core/eval/jsonl.js';
import { buildReport, DEFAULT_BOOTSTRAP_SAMPLES, DEFAULT_REPORT_SEED } from '../../core/eval/report.js';
import { renderCsv, renderJson, renderMarkdown } from '../../core/eval/report-render.js';
import { type EvalRecord, parseEvalRecords } from '../../core/eval/results.js';
import { CliError } from '../cli-error.js';
import { defineCommand } from '../command-definition.js';
import { nonNegativeInt, positiveInt } from '../option-parsers.js';

export const REPORT = defineCommand({
  name: 'report',
  synopsis: [
    'cgm report (RESULTS.jsonl | --batch ID) [--out DIR] [--format md,csv,json]',
    `    [--bootstrap N (default ${DEFAULT_BOOTSTRAP_SAMPLES})] [--seed S (default ${DEFAULT_REPORT_SEED})] [--grid N]`,
  ],
  about: '  RESULTS.jsonl  per-counterfactual evaluation records (core/eval/results.ts)',
  options: {
    batch: {
      type: 'string',
      value: 'ID',
      help: 'instead: the records a finished batch workflow stored in S3',
    },
    out: {
      type: 'string',
      value: 'DIR',
      help:
        'write every chosen format to DIR (default md,csv,json: report.md, report.json, table1.csv, ' +
        'node-types.csv, verdicts.csv, cost.csv, failures.csv); without it, one format is printed on ' +
        'stdout (default md; csv: table1.csv)',
    },
    format: { type: 'string', value: 'F,...', help: 'md, csv and/or json' },
    bootstrap: { type: 'string', value: 'N', help: 'bootstrap samples for the 95% intervals' },
    seed: { type: 'string', value: 'S', help: "seed of the bootstrap (and of the grid's images)" },
    grid: {
      type: 'string',
      value: 'N',
      help:
        'with --out: also grid.png, N images per data set, a row per intervention, columns original | ' +
        "CSG | DDPM | DDIM, from the records' local image paths (relative to the results file; S3 " +
        'images and missing paths show as grey cells)',
    },
  },
});
const FORMATS = ['md', 'csv', 'json'] as const;
type Format = (typeof FORMATS)[number];

export async function run(argv: string[]): Promise<number> {
  const args = REPORT.parse(argv);
  if (!args) return 0;
  const { values, positionals } = args;
  const [given, ...extra] = positionals;
  if (values.batch !== undefined ? given !== undefined : !given || extra.length > 0)
    throw REPORT.usageError('give RESULTS.jsonl or --batch ID, one of them');
  // A batch's records come from S3 (through its workflow's result); its images stay in S3 (grey grid cells).
  const file = values.batch !== undefined ? `batch ${values.batch}: results.jsonl` : given;
  const formats = parseFormats(values.format ?? (values.out ? 'md,csv,json' : 'md'));
  const samples =
    values.bootstrap === undefined ? DEFAULT_BOOTSTRAP_SAMPLES : positiveInt('--bootstrap', values.bootstrap);
  const gridImages = values.grid === undefined ? 0 : nonNegativeInt('--grid', values.grid);
  if (gridImages > 0 && !values.out) throw REPORT.usageError('--grid needs --out DIR');
  if (!values.out && formats.length > 1)
    throw REPORT.usageError(`--format ${formats.join(',')}: several formats need --out DIR`);

  let text: string;
  try {
    text =
      values.batch !== undefined
        ? await (await import('../batch-results.js')).batchResultsText(values.batch)
        : await readFile(file, 'utf8');
  } catch (err) {
    if (err instanceof CliError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new CliError(`${file}: cannot read (${code === 'ENOENT' ? 'no such file' : (code ?? 'error')})`, 2);
  }
  let report: ReturnType<typeof buildReport>;
  let records: EvalRecord[];
  try {
    records = parseEvalRecords(text, file);
    if (records.length === 0) throw new CliError(`${file}: no evaluation records`, 2);
    report = buildReport(records, { bootstrapSamples: samples, seed: values.seed ?? DEFAULT_REPORT_SEED });
  } catch (err) {
    if (err instanceof JsonlError) throw new CliError(err.message, 2);
    throw err;
  }

  if (!values.out) {
    const [format] = formats;
    process.stdout.write(
      format === 'md'
        ? renderMarkdown(report)
        : format === 'json'
          ? renderJson(report)
          : renderCsv(report)['table1.csv'],
    );
    return 0;
  }
  const files: Record<string, string> = {};
  if (formats.includes('md')) files['report.md'] = renderMarkdown(report);
  if (formats.includes('json')) files['report.json'] = renderJson(report);
  if (formats.includes('csv')) Object.assign(files, renderCsv(report));
  await mkdir(values.out, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    const path = join(values.out, name);
    await writeFile(path, content);
    process.stdout.write(`${path}\n`);
  }
  if (gridImages > 0) {
    const path = join(values.out, 'grid.png');
    await writeFile(path, await gridPicture(records, gridImages, dirname(resolve(file)), values.seed));
    process.stdout.write(`${path}\n`);
  }
  return 0;
}

async function gridPicture(
  records: EvalRecord[],
  perDataset: number,
  base: string,
  seed?: string,
): Promise<Buffer> {
  // Loaded here so that a report without a picture does not load sharp.
  const { GRID_METHODS, pickGridExamples, renderImageGrid } = await import('../../core/eval/grid.js');
  const examples = pickGridExamples(records, { imagesPerDataset: perDataset, seed });
  if (examples.length === 0) {
    throw new CliError('--grid: no counterfactual has all of csg, ddpm and ddim evaluated', 2);
  }
  const local = (image: BatchImage | undefined) => {
    if (image?.kind !== 'local') return null;
    const path = resolve(base, image.path);
    if (existsSync(path)) return path;
    process.stderr.write(`cgm report: --grid: ${path} does not exist; its cell is left grey\n`);
    return null;
  };
  const rows = examples.map((e) => {
    const mine = records.filter(
      (r) => r.dataset === e.dataset && r.imageId === e.imageId && r.interventionId === e.interventionId,
    );
    const original = local(mine.find((r) => r.originalImage)?.originalImage);
    const outputs = GRID_METHODS.map((m) => {
      const r = mine.find((x) => x.method === m);
      return r?.status === 'evaluated' ? local(r.image) : null;
    });
    return {
      label: `${DATASET_LABELS[e.dataset]} ${e.imageId}\n${e.interventionId}`,
      images: [original, ...outputs],
    };
  });
  return renderImageGrid({ columns: ['original', 'CSG', 'DDPM', 'DDIM'], rows });
}

function parseFormats(text: string): Format[] {
  const out: Format[] = [];
  for (const part of text.split(',').map((s) => s.trim())) {
    if (!(FORMATS as readonly string[]).includes(part)) {
      throw new CliError(
        `--format: expected a comma-separated subset of ${FORMATS.join(',')} (got '${part}')`,
        2,
      );
    }
    if (!out.includes(part as Format)) out.push(part as Format);
  }
  return out;
}
