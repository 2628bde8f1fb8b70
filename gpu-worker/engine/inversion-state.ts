// An image's abduction as bytes (so a later issue can keep it in S3) and back. Layout: "CGMINV01",
// u32 LE header length, UTF-8 JSON header (padded to 4 bytes), then the fp32 tensors back to back.
// Step rules are rebuilt from (kind, numSteps, skip); only tensors and numbers are stored.
import type { ImageAbduction, StageStats } from './pipeline.js';
import { makeStepRule, type StepRuleKind } from './schedulers/step-rule.js';
import { sizeOf, type Tensor } from './tensor.js';
import type { NfeCount } from './unet-port.js';

const MAGIC = 'CGMINV01';

interface RuleRef {
  kind: StepRuleKind;
  numSteps: number;
  skip: number;
  nfe: NfeCount;
}

interface Header {
  key: string;
  imageHeight: number;
  imageWidth: number;
  timeIds: number[];
  stages: StageStats[];
  csg?: RuleRef;
  ddpm?: RuleRef;
  ddim?: { numSteps: number; skip: number; nfe: NfeCount; timesteps: number[] };
  tensors: { name: string; shape: number[]; offset: number }[];
}

export interface InversionGrid {
  csg?: { numSteps: number; skip: number };
  ddpm?: { numSteps: number; skip: number };
  ddim?: { numSteps: number; skip: number };
}

export class InversionStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InversionStateError';
  }
}

export function serializeAbduction(key: string, a: ImageAbduction, grid: InversionGrid): Uint8Array {
  const tensors: { name: string; t: Tensor }[] = [{ name: 'x0', t: a.x0 }];
  const ref = (
    name: 'csg' | 'ddpm',
    kind: StepRuleKind,
    g: { numSteps: number; skip: number } | undefined,
  ): RuleRef | undefined => {
    const inv = a[name];
    if (!inv) return undefined;
    if (!g) throw new InversionStateError(`grid of the ${name} inversion missing`);
    tensors.push({ name: `${name}.init`, t: inv.initLatents });
    inv.zs.forEach((z, k) => {
      tensors.push({ name: `${name}.zs.${k}`, t: z });
    });
    return { kind, numSteps: g.numSteps, skip: g.skip, nfe: inv.nfe };
  };
  const header: Header = {
    key,
    imageHeight: a.imageHeight,
    imageWidth: a.imageWidth,
    timeIds: Array.from(a.timeIds),
    stages: [...a.stages],
    csg: ref('csg', 'dpm-sde-2m', grid.csg),
    ddpm: ref('ddpm', 'ddim-eta1', grid.ddpm),
    tensors: [],
  };
  if (a.ddim) {
    if (!grid.ddim) throw new InversionStateError('grid of the ddim inversion missing');
    tensors.push({ name: 'ddim.latents', t: a.ddim.latents });
    header.ddim = { ...grid.ddim, nfe: a.ddim.nfe, timesteps: Array.from(a.ddim.timesteps) };
  }
  let offset = 0;
  for (const { name, t } of tensors) {
    header.tensors.push({ name, shape: [...t.shape], offset });
    offset += t.data.length;
  }
  let json = JSON.stringify(header);
  const pad = (4 - ((MAGIC.length + 4 + Buffer.byteLength(json)) % 4)) % 4;
  json += ' '.repeat(pad);
  const head = Buffer.from(json, 'utf8');
  const start = MAGIC.length + 4 + head.length;
  const out = new Uint8Array(start + offset * 4);
  out.set(Buffer.from(MAGIC, 'latin1'), 0);
  new DataView(out.buffer).setUint32(MAGIC.length, head.length, true);
  out.set(head, MAGIC.length + 4);
  const body = new Float32Array(out.buffer, start, offset);
  for (const { name, t } of tensors) {
    body.set(t.data, header.tensors.find((e) => e.name === name)!.offset);
  }
  return out;
}

/** `alphasCumprod`: the loaded model's noise schedule, which the stored step rules are rebuilt on. */
export function deserializeAbduction(
  bytes: Uint8Array,
  alphasCumprod?: Float32Array,
): { key: string; abduction: ImageAbduction } {
  if (Buffer.from(bytes.subarray(0, MAGIC.length)).toString('latin1') !== MAGIC) {
    throw new InversionStateError('not an inversion state (bad magic)');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint32(MAGIC.length, true);
  const header = JSON.parse(
    Buffer.from(bytes.subarray(MAGIC.length + 4, MAGIC.length + 4 + length)).toString('utf8'),
  ) as Header;
  const start = MAGIC.length + 4 + length;
  const aligned = bytes.slice(start); // own buffer, 4-byte aligned
  const body = new Float32Array(aligned.buffer, 0, Math.floor(aligned.byteLength / 4));
  const get = (name: string): Tensor => {
    const e = header.tensors.find((x) => x.name === name);
    if (!e) throw new InversionStateError(`inversion state has no tensor ${name}`);
    const n = sizeOf(e.shape);
    if (e.offset + n > body.length) throw new InversionStateError(`inversion state truncated at ${name}`);
    return { data: body.slice(e.offset, e.offset + n), shape: e.shape };
  };
  const ef = (name: 'csg' | 'ddpm') => {
    const r = header[name];
    if (!r) return undefined;
    const rule = makeStepRule(r.kind, r.numSteps, r.skip, alphasCumprod);
    const zs = Array.from({ length: r.numSteps }, (_, k) => get(`${name}.zs.${k}`));
    return { rule, initLatents: get(`${name}.init`), zs, timesteps: rule.timesteps, nfe: r.nfe };
  };
  return {
    key: header.key,
    abduction: {
      imageHeight: header.imageHeight,
      imageWidth: header.imageWidth,
      x0: get('x0'),
      timeIds: Float32Array.from(header.timeIds),
      stages: header.stages,
      csg: ef('csg'),
      ddpm: ef('ddpm'),
      ddim: header.ddim
        ? {
            latents: get('ddim.latents'),
            timesteps: Int32Array.from(header.ddim.timesteps),
            nfe: header.ddim.nfe,
          }
        : undefined,
    },
  };
}
