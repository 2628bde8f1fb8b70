// `cgm export-models (--tiny | --model ID) --out DIR [--fp16] [...]`: makes an ONNX model bundle
// (cgm-model.json + graphs + tokenizers) with the Python tool in gpu-worker/export, run in the repo's
// .venv (bash scripts/setup.sh installs it). Output of the tool is streamed through.
// Exit codes: the tool's (0 on success); 2 for bad arguments or a missing venv.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { CliError } from '../cli-error.js';

const USAGE = `usage: cgm export-models (--tiny | --model ID) --out DIR [options]
       cgm export-models --lpips --out DIR [--random-backbone | --vgg-weights FILE]   (LPIPS only)

  --model ID          diffusers SDXL folder or hub id (hub ids need internet + the accepted
                      model licence)
  --tiny              seeded tiny SDXL-shaped model (offline); writes DIR/{diffusers,bundle,verify}
  --out DIR           output folder
  --fp16              fp16 inside UNet and text encoders, fp32 graph I/O (VAE always fp32)
  --height N --width N   export resolution (default 1024; multiples of 32)
  --lpips             also export LPIPS-VGG (into DIR/lpips with --tiny, else DIR when alone)
  --random-backbone   LPIPS with seeded VGG weights (offline tests only)
  --vgg-weights FILE  LPIPS with a torchvision vgg16 state dict
  --traces            with --tiny: diffusers reference traces into DIR/traces`;

const ROOT = resolve(import.meta.dirname, '../..');

export async function run(argv: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        model: { type: 'string' },
        tiny: { type: 'boolean', default: false },
        out: { type: 'string' },
        fp16: { type: 'boolean', default: false },
        height: { type: 'string' },
        width: { type: 'string' },
        lpips: { type: 'boolean', default: false },
        'random-backbone': { type: 'boolean', default: false },
        'vgg-weights': { type: 'string' },
        traces: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new CliError(`${(err as Error).message}\n${USAGE}`, 2);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (!values.out) throw new CliError(`--out is required\n${USAGE}`, 2);
  if (Boolean(values.model) === values.tiny && !(values.lpips && !values.model && !values.tiny))
    throw new CliError(`give exactly one of --model or --tiny\n${USAGE}`, 2);
  if (values.traces && !values.tiny) throw new CliError('--traces needs --tiny', 2);
  for (const k of ['height', 'width'] as const) {
    const v = values[k];
    if (v !== undefined && (!/^\d+$/.test(String(v)) || Number(v) % 32 !== 0))
      throw new CliError(`--${k} must be a positive multiple of 32, got ${v}`, 2);
  }

  const python = join(ROOT, '.venv/bin/python');
  if (!existsSync(python)) throw new CliError(`${python} not found: run \`bash scripts/setup.sh\` first`, 2);
  const args = ['-m', 'cgm_export', '--out', resolve(String(values.out))];
  if (values.model) args.push('--model', String(values.model));
  for (const flag of ['tiny', 'fp16', 'lpips', 'random-backbone', 'traces'] as const)
    if (values[flag]) args.push(`--${flag}`);
  for (const opt of ['height', 'width', 'vgg-weights'] as const)
    if (values[opt] !== undefined) args.push(`--${opt}`, String(values[opt]));

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
