// The VAE graphs (fp32 always: the SDXL VAE overflows in fp16, docs/algorithm.md §3.4).
// Encode takes the latent *mean* (deterministic abduction, §1.1) and applies the scaling factor;
// decode undoes it. Images are planar RGB in [-1, 1].
import type { ImageTensor } from './image.js';
import type { OnnxGraph } from './onnx-graph.js';
import { type Tensor, tensor } from './tensor.js';

export interface VaeIo {
  encoder: { graph: OnnxGraph; input: string; output: string };
  decoder: { graph: OnnxGraph; input: string; output: string };
  scalingFactor: number;
}

export class OnnxVae {
  constructor(private readonly io: VaeIo) {}

  async encode(image: ImageTensor): Promise<Tensor> {
    const { graph, input, output } = this.io.encoder;
    const out = (await graph.run({ [input]: { data: image.data, dims: image.shape } }, [output]))[output];
    const mean = out.data as Float32Array;
    const scaled = new Float32Array(mean.length);
    for (let i = 0; i < mean.length; i++) scaled[i] = mean[i] * this.io.scalingFactor;
    return tensor(out.dims, scaled);
  }

  async decode(latents: Tensor): Promise<ImageTensor> {
    const { graph, input, output } = this.io.decoder;
    const unscaled = new Float32Array(latents.data.length);
    for (let i = 0; i < unscaled.length; i++) unscaled[i] = latents.data[i] / this.io.scalingFactor;
    const out = (await graph.run({ [input]: { data: unscaled, dims: latents.shape } }, [output]))[output];
    const [n, c, h, w] = out.dims;
    if (n !== 1 || c !== 3) throw new Error(`VAE decoder returned shape [${out.dims}], expected [1,3,H,W]`);
    return { data: out.data as Float32Array, shape: [1, 3, h, w] };
  }
}
