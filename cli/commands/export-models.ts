// `cgm export-models (--tiny | --model ID) --out DIR [--fp16] [...]`: makes an ONNX model bundle
// (cgm-model.json + graphs + tokenizers) with the Python tool in gpu-worker/export, run in the repo's
// .venv (bash scripts/setup.sh installs it). Output of the tool is streamed through.
// Exit codes: the tool's (0 on success); 2 for bad arguments or a missing venv.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CliError } from '../cli-error.js';
import { defineCommand } from '../command-definition.js';

export const EXPORT_MODELS = defineCommand({
  name: 'export-models',
  synopsis: [
    'cgm export-models (--tiny | --model ID) --out DIR [options]',
    'cgm export-models --lpips --out DIR [--random-backbone | --vgg-weights FILE]   (LPIPS only)',
  ],
  positionals: false,
  options: {
    model: {
      type: 'string',
      value: 'ID',
      help: 'diffusers SDXL folder or hub id (hub ids need internet + the accepted model licence)',
    },
    tiny: {
      type: 'boolean',
      help: 'seeded tiny SDXL-shaped model (offline); writes DIR/{diffusers,bundle,verify}',
    },
    out: { type: 'string', value: 'DIR', help: 'output folder' },
    fp16: {
      type: 'boolean',
      help: 'fp16 inside UNet and text encoders, fp32 graph I/O (VAE always fp32)',
    },
    height: { type: 'string', value: 'N', help: 'export height (default 1024; a multiple of 32)' },
    width: { type: 'string', value: 'N', help: 'export width (default 1024; a multiple of 32)' },
    lpips: {
      type: 'boolean',
      help: 'also export LPIPS-VGG (into DIR/lpips with --tiny, else DIR when alone)',
    },
    'random-backbone': { type: 'boolean', help: 'LPIPS with seeded VGG weights (offline tests only)' },
    'vgg-weights': { type: 'string', value: 'FILE', help: 'LPIPS with a torchvision vgg16 state dict' },
    traces: { type: 'boolean', help: 'with --tiny: diffusers reference traces into DIR/traces' },
  },
});

const ROOT = resolve(import.meta.dirname, '../..');

export async function run(argv: string[]): Promise<number> {
  const parsed = EXPORT_MODELS.parse(argv);
  if (!parsed) return 0;
  const { values } = parsed;
  if (!values.out) throw EXPORT_MODELS.usageError('--out is required');
  if (Boolean(values.model) === values.tiny && !(values.lpips && !values.model && !values.tiny))
    throw EXPORT_MODELS.usageError('give exactly one of --model or --tiny');
  if (values.traces && !values.tiny) throw new CliError('--traces needs --tiny', 2);
  for (const k of ['height', 'width'] as const) {
    const v = values[k];
    if (v !== undefined && (!/^\d+$/.test(v) || Number(v) < 32 || Number(v) % 32 !== 0))
      throw new CliError(`--${k}: expected a positive multiple of 32 (got '${v}')`, 2);
  }

  const python = join(ROOT, '.venv/bin/python');
  if (!existsSync(python)) throw new CliError(`${python} not found: run \`bash scripts/setup.sh\` first`, 2);
  const args = ['-m', 'cgm_export', '--out', resolve(values.out)];
  if (values.model) args.push('--model', values.model);
  for (const flag of ['tiny', 'fp16', 'lpips', 'random-backbone', 'traces'] as const)
    if (values[flag]) args.push(`--${flag}`);
  for (const opt of ['height', 'width', 'vgg-weights'] as const)
    if (values[opt] !== undefined) args.push(`--${opt}`, values[opt]);

  const exportDir = join(ROOT, 'gpu-worker/export');
  const child = spawn(python, args, {
    cwd: exportDir,
    env: { ...process.env, PYTHONPATH: exportDir },
    stdio: 'inherit',
  });
  return await new Promise<number>((done, fail) => {
    child.on('error', fail);
    child.on('exit', (code, signal) => done(code ?? (signal ? 1 : 0)));
  });
}
