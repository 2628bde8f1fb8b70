// The world oracle from TypeScript: world/model/oracle.onnx (a small CNN trained by `cgm world train` on
// renders and their VAE reconstructions) reads every attribute of a street-world image. It answers the
// paper's judge question for this world: is the expected value of a concept present in the image?
// The graph is ~2 MB and one image costs milliseconds on a CPU, so it runs on the calling thread.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { z } from 'zod';
import { WorldInputError } from './errors.js';
import type { WorldAttributes, WorldScm } from './scm.js';

export const DEFAULT_WORLD_MODEL_DIR = fileURLToPath(new URL('../../world/model', import.meta.url));
const SIZE = 128;

const OracleManifestSchema = z.object({
  attributes: z.array(z.object({ id: z.string(), values: z.array(z.string()).min(1) })).min(1),
});

export interface AttributeReading {
  readonly value: string;
  /** Softmax probability of the value read. */
  readonly probability: number;
  /** Softmax over every value of the attribute, in scm.json order. */
  readonly probabilities: Readonly<Record<string, number>>;
}

export type OracleReading = Readonly<Record<string, AttributeReading>>;

export class WorldOracle {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly attributes: ReadonlyArray<{ id: string; values: string[] }>,
  ) {}

  /** Opens oracle.onnx; its manifest (oracle.json) must list the SCM's attributes and values in order. */
  static async open(scm: WorldScm, modelDir: string = DEFAULT_WORLD_MODEL_DIR): Promise<WorldOracle> {
    const manifestPath = join(modelDir, 'oracle.json');
    const manifest = OracleManifestSchema.parse(JSON.parse(readFileSync(manifestPath, 'utf8')));
    const want = scm.attributes.map((a) => `${a.id}:${a.values.join('|')}`).join(',');
    const have = manifest.attributes.map((a) => `${a.id}:${a.values.join('|')}`).join(',');
    if (want !== have)
      throw new WorldInputError(
        `${manifestPath}: the oracle reads ${have}, but world/scm.json has ${want}; retrain with \`cgm world train\``,
      );
    const session = await ort.InferenceSession.create(join(modelDir, 'oracle.onnx'), {
      executionProviders: ['cpu'],
      intraOpNumThreads: 1,
    });
    return new WorldOracle(session, manifest.attributes);
  }

  /** Reads images (PNG/JPEG bytes); any other size is resized to 128² first (the oracle's input). */
  async read(images: readonly Uint8Array[]): Promise<OracleReading[]> {
    if (images.length === 0) return [];
    const planar = new Float32Array(images.length * 3 * SIZE * SIZE);
    for (const [n, bytes] of images.entries()) {
      const { data } = await sharp(bytes)
        .removeAlpha()
        .resize(SIZE, SIZE, { fit: 'fill', kernel: 'cubic' })
        .raw()
        .toBuffer({ resolveWithObject: true });
      const base = n * 3 * SIZE * SIZE;
      for (let i = 0; i < SIZE * SIZE; i++)
        for (let c = 0; c < 3; c++) planar[base + c * SIZE * SIZE + i] = data[i * 3 + c] / 255;
    }
    const logits = await this.logits(planar, images.length);
    const width = logits.length / images.length;
    return images.map((_, n) => this.decode(logits.subarray(n * width, (n + 1) * width)));
  }

  /** Raw logits for N×3×128×128 planar RGB in [0, 1] (what the ONNX graph takes). */
  async logits(planar: Float32Array, n: number): Promise<Float32Array> {
    const out = await this.session.run({ image: new ort.Tensor('float32', planar, [n, 3, SIZE, SIZE]) });
    return out.logits.data as Float32Array;
  }

  private decode(logits: Float32Array): OracleReading {
    const reading: Record<string, AttributeReading> = {};
    let k = 0;
    for (const a of this.attributes) {
      const block = Array.from(logits.subarray(k, k + a.values.length));
      k += a.values.length;
      const max = Math.max(...block);
      const exps = block.map((v) => Math.exp(v - max));
      const sum = exps.reduce((s, v) => s + v, 0);
      const probabilities = Object.fromEntries(a.values.map((v, i) => [v, exps[i] / sum]));
      const best = exps.indexOf(Math.max(...exps));
      reading[a.id] = { value: a.values[best], probability: exps[best] / sum, probabilities };
    }
    return reading;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** Share of the given attributes the reading agrees with (all of `expected` when no ids are given). */
export function agreement(
  reading: OracleReading,
  expected: WorldAttributes,
  ids?: readonly string[],
): number {
  const keys = ids ?? Object.keys(expected);
  if (keys.length === 0) return 1;
  return keys.filter((id) => reading[id]?.value === expected[id]).length / keys.length;
}
