// LPIPS (VGG, v0.1) through the export tool's ONNX graph (cgm-lpips.json, format cgm-lpips/1): inputs in
// [-1, 1], NCHW, the spatial mean and the sum over layers done inside the graph (docs/algorithm.md
// §8.6). Images of different sizes must be brought to one size by the caller (state it in reports).
import { readFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { z } from 'zod';
import type { ImageTensor } from './image.js';
import { type Device, OnnxGraph } from './onnx-graph.js';

export const LPIPS_MANIFEST = 'cgm-lpips.json';

const Io = z.object({
  name: z.string(),
  dtype: z.string(),
  shape: z.array(z.union([z.number(), z.string()])),
});
const LpipsManifestSchema = z.object({
  format: z.literal('cgm-lpips/1'),
  network: z.string(),
  backbone: z.string(),
  file: z.string(),
  inputRange: z.tuple([z.literal(-1), z.literal(1)]),
  inputs: z.array(Io).length(2),
  outputs: z.array(Io).length(1),
});
export type LpipsManifest = z.infer<typeof LpipsManifestSchema>;

export class Lpips {
  private constructor(
    private readonly graph: OnnxGraph,
    readonly manifest: LpipsManifest,
  ) {}

  static async open(
    dir: string,
    options: { device: Device; allowCpuFallback?: boolean; warn?: (m: string) => void },
  ): Promise<Lpips> {
    const path = join(dir, LPIPS_MANIFEST);
    let raw: unknown;
    try {
      raw = JSON.parse(await readFile(path, 'utf8'));
    } catch (err) {
      throw new Error(
        `${path}: cannot read the LPIPS manifest (${(err as Error).message}); export it with \`cgm export-models --lpips\``,
      );
    }
    const parsed = LpipsManifestSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new Error(`${path}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
    }
    const m = parsed.data;
    const graph = await OnnxGraph.open(isAbsolute(m.file) ? m.file : join(dir, m.file), options);
    return new Lpips(graph, m);
  }

  /** LPIPS distance per pair; both batches (N,3,H,W) in [-1, 1] of one size. */
  async distances(
    a: ImageTensor | { data: Float32Array; shape: readonly number[] },
    b: typeof a,
  ): Promise<Float32Array> {
    if (a.shape.join() !== b.shape.join()) {
      throw new RangeError(`LPIPS inputs differ in shape: [${a.shape}] vs [${b.shape}]; resize one first`);
    }
    const [x, y] = this.manifest.inputs;
    const out = this.manifest.outputs[0].name;
    const result = await this.graph.run(
      { [x.name]: { data: a.data, dims: a.shape }, [y.name]: { data: b.data, dims: b.shape } },
      [out],
    );
    return result[out].data as Float32Array;
  }

  async distance(a: ImageTensor, b: ImageTensor): Promise<number> {
    return (await this.distances(a, b))[0];
  }

  async release(): Promise<void> {
    await this.graph.release();
  }
}
