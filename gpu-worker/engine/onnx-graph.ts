// ONNX Runtime behind one module: every other engine file sees only `OnnxGraph.run` with plain
// typed arrays. Execution provider choice, dtype adaptation (fp16 / int32 graph inputs) and the
// output conversion back to fp32 live here and nowhere else.
import * as ort from 'onnxruntime-node';
import { float16BitsToFloat32, float32ToFloat16Bits } from './tensor.js';

export type Device = 'cpu' | 'cuda';

/** A host-side array handed to or returned from a graph. Float data is always fp32 on our side. */
export interface HostTensor {
  data: Float32Array | BigInt64Array | Int32Array;
  dims: readonly number[];
}

export interface OpenGraphOptions {
  device: Device;
  /** Only when true does a failing CUDA provider fall back to the CPU, with a warning. */
  allowCpuFallback?: boolean;
  /** CPU intra-op threads; default lets ORT decide. */
  threads?: number;
  warn?: (message: string) => void;
}

export interface GraphIoInfo {
  name: string;
  type: string;
  shape: ReadonlyArray<number | string>;
}

export class OnnxGraph {
  /** Read once: the metadata does not change and run() consults it on every call (hot path). */
  readonly inputs: readonly GraphIoInfo[];
  readonly outputs: readonly GraphIoInfo[];

  private constructor(
    readonly path: string,
    readonly device: Device,
    private readonly session: ort.InferenceSession,
  ) {
    this.inputs = session.inputMetadata.map(describe);
    this.outputs = session.outputMetadata.map(describe);
  }

  static async open(path: string, options: OpenGraphOptions): Promise<OnnxGraph> {
    const base: ort.InferenceSession.SessionOptions = {
      graphOptimizationLevel: 'all',
      ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
    };
    if (options.device === 'cpu') {
      return new OnnxGraph(
        path,
        'cpu',
        await ort.InferenceSession.create(path, { ...base, executionProviders: ['cpu'] }),
      );
    }
    try {
      // Requesting CUDA without its provider library throws at session creation (no silent fallback),
      // so the fallback is ours and explicit.
      const session = await ort.InferenceSession.create(path, { ...base, executionProviders: ['cuda'] });
      return new OnnxGraph(path, 'cuda', session);
    } catch (err) {
      if (!options.allowCpuFallback) {
        throw new Error(
          `cannot start the CUDA execution provider for ${path}: ${(err as Error).message}. ` +
            'Install the onnxruntime-node CUDA provider libraries (see Dockerfile.gpu) or set CGM_DEVICE=cpu.',
        );
      }
      options.warn?.(`CUDA unavailable for ${path} (${(err as Error).message}); falling back to CPU`);
      return new OnnxGraph(
        path,
        'cpu',
        await ort.InferenceSession.create(path, { ...base, executionProviders: ['cpu'] }),
      );
    }
  }

  /** Runs the graph; feeds are converted to each input's declared dtype, float outputs come back fp32. */
  async run(
    feeds: Record<string, HostTensor>,
    outputNames: readonly string[],
  ): Promise<Record<string, HostTensor>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const input of this.inputs) {
      const feed = feeds[input.name];
      if (!feed)
        throw new Error(`graph ${this.path} needs input '${input.name}' (${input.type} ${fmt(input.shape)})`);
      ortFeeds[input.name] = toOrt(feed, input, this.path);
    }
    const result = await this.session.run(ortFeeds, outputNames as string[]);
    const out: Record<string, HostTensor> = {};
    for (const name of outputNames) {
      const t = result[name];
      if (!t) throw new Error(`graph ${this.path} returned no output '${name}'`);
      out[name] = fromOrt(t);
    }
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

function describe(m: ort.InferenceSession.ValueMetadata): GraphIoInfo {
  return m.isTensor
    ? { name: m.name, type: m.type, shape: m.shape }
    : { name: m.name, type: 'non-tensor', shape: [] };
}

const fmt = (shape: ReadonlyArray<number | string>) => `[${shape.join(',')}]`;

function toOrt(feed: HostTensor, input: GraphIoInfo, path: string): ort.Tensor {
  const dims = [...feed.dims];
  const { data } = feed;
  const expectRank = input.shape.length;
  if (expectRank > 0 && expectRank !== dims.length) {
    throw new Error(
      `input '${input.name}' of ${path} has rank ${expectRank} ${fmt(input.shape)}, got dims ${fmt(dims)}`,
    );
  }
  switch (input.type) {
    case 'float32':
      return new ort.Tensor('float32', asFloat32(data), dims);
    case 'float16':
      return new ort.Tensor('float16', float32ToFloat16Bits(asFloat32(data)), dims);
    case 'int64':
      return new ort.Tensor(
        'int64',
        data instanceof BigInt64Array
          ? data
          : BigInt64Array.from(toNumbers(data), (v) => BigInt(Math.trunc(v))),
        dims,
      );
    case 'int32':
      return new ort.Tensor(
        'int32',
        data instanceof Int32Array ? data : Int32Array.from(toNumbers(data)),
        dims,
      );
    default:
      throw new Error(`input '${input.name}' of ${path} has unsupported dtype ${input.type}`);
  }
}

function toNumbers(data: HostTensor['data']): number[] {
  return data instanceof BigInt64Array ? Array.from(data, Number) : Array.from(data);
}

function asFloat32(data: HostTensor['data']): Float32Array {
  return data instanceof Float32Array ? data : Float32Array.from(toNumbers(data));
}

function fromOrt(t: ort.Tensor): HostTensor {
  const dims = [...t.dims];
  switch (t.type) {
    case 'float32':
      return { data: t.data as Float32Array, dims };
    case 'float16':
      // onnxruntime-common hands fp16 out as Uint16Array bit patterns on Node < 24.
      return { data: float16BitsToFloat32(t.data as Uint16Array), dims };
    case 'int64':
      return { data: t.data as BigInt64Array, dims };
    case 'int32':
      return { data: t.data as Int32Array, dims };
    default:
      throw new Error(`unsupported output dtype ${t.type}`);
  }
}
