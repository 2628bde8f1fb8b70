// The UNet graph as a NoisePredictor: the only place the engine's loops meet ONNX Runtime.
import type { OnnxGraph } from './onnx-graph.js';
import { type Tensor, tensor } from './tensor.js';
import type { NoisePredictor, NoisePredictorInput, NoisePredictorOutput } from './unet-port.js';

/** Input and output names of the UNet graph, as the bundle manifest lists them. */
export interface UnetIoNames {
  sample: string;
  timestep: string;
  encoderHiddenStates: string;
  textEmbeds: string;
  timeIds: string;
  noise: string;
  /** Absent for graphs exported without the cross-attention output (baselines only). */
  xattn?: string;
}

export class OnnxUnet implements NoisePredictor {
  /** Declared rank/length of the timestep input (exporters differ; docs/algorithm.md §5.1), looked up once. */
  private readonly timestepShape: ReadonlyArray<number | string>;

  constructor(
    private readonly graph: OnnxGraph,
    private readonly names: UnetIoNames,
  ) {
    this.timestepShape = graph.inputs.find((i) => i.name === names.timestep)?.shape ?? [];
  }

  async predict(input: NoisePredictorInput): Promise<NoisePredictorOutput> {
    const n = this.names;
    const batch = input.latents.shape[0];
    const wantXattn = input.wantAttention && n.xattn !== undefined;
    const outputs = wantXattn ? [n.noise, n.xattn as string] : [n.noise];
    const result = await this.graph.run(
      {
        [n.sample]: host(input.latents),
        [n.timestep]: this.timestepFeed(input.timestep, batch),
        [n.encoderHiddenStates]: host(input.cond),
        [n.textEmbeds]: host(input.pooled),
        [n.timeIds]: host(input.timeIds),
      },
      outputs,
    );
    const noise = result[n.noise];
    const out: { noise: Tensor; xattn?: Tensor } = { noise: tensor(noise.dims, noise.data as Float32Array) };
    if (wantXattn) {
      const x = result[n.xattn as string];
      out.xattn = tensor(x.dims, x.data as Float32Array);
    }
    return out;
  }

  /** Scalar, [1] or [B], whichever the graph declares (exporters differ; docs/algorithm.md §5.1). */
  private timestepFeed(t: number, batch: number) {
    const shape = this.timestepShape;
    if (shape.length === 0) return { data: new Float32Array([t]), dims: [] };
    const len = shape[0] === 1 ? 1 : batch;
    return { data: new Float32Array(len).fill(t), dims: [len] };
  }
}

const host = (t: Tensor) => ({ data: t.data, dims: t.shape });
