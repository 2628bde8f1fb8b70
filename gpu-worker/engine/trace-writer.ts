// --trace: per-step tensors as .npy plus index.json, in the layout of the export tool's reference
// traces (gpu-worker/export/cgm_export/traces.py, format cgm-traces/1), so any engine run can be
// compared with diffusers tensor by tensor (docs/algorithm.md §6 item 16). Per-step series are
// stacked on a new leading axis (step) when the trace is closed; files are named like the export
// tool's (`a/b/c` → `a__b__c.npy`).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeNpy } from './npy.js';
import { sameShape, type Tensor } from './tensor.js';
import type { TraceSink } from './trace-sink.js';

export const TRACE_INDEX = 'index.json';

export interface TraceTensorEntry {
  file: string;
  shape: number[];
  dtype: 'float32' | 'int64';
  description: string;
}

export interface TraceIndex {
  format: 'cgm-traces/1';
  producer: 'cgm-engine';
  settings: Record<string, unknown>;
  tensors: Record<string, TraceTensorEntry>;
}

interface Series {
  length: number;
  shape: readonly number[] | null;
  steps: (Float32Array | undefined)[];
  description: string;
}

/** Buffers series in memory (N·latent floats each) and writes everything on close(). */
export class TraceWriter implements TraceSink {
  private readonly tensors: Record<string, TraceTensorEntry> = {};
  private readonly series = new Map<string, Series>();

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  tensor(name: string, value: Tensor, description = ''): void {
    this.write(name, 'float32', value.shape, value.data, description);
  }

  ints(name: string, values: ArrayLike<number>, description = ''): void {
    this.write(
      name,
      'int64',
      [values.length],
      BigInt64Array.from(Array.from(values), (v) => BigInt(v)),
      description,
    );
  }

  step(name: string, index: number, length: number, value: Tensor, description = ''): void {
    let s = this.series.get(name);
    if (!s) {
      s = { length, shape: null, steps: new Array(length), description };
      this.series.set(name, s);
    }
    if (!(Number.isInteger(index) && index >= 0 && index < s.length)) {
      throw new RangeError(`trace series ${name}: step ${index} outside [0, ${s.length})`);
    }
    if (s.shape && !sameShape(s.shape, value.shape)) {
      throw new RangeError(`trace series ${name}: shape [${value.shape}] differs from [${s.shape}]`);
    }
    s.shape ??= [...value.shape];
    s.steps[index] = value.data.slice();
  }

  /** Stacks the series, writes them and index.json; later calls add to the same trace. */
  close(settings: Record<string, unknown> = {}): TraceIndex {
    for (const [name, s] of this.series) {
      if (!s.shape) continue;
      const inner = s.steps.find((x) => x)?.length ?? 0;
      const data = new Float32Array(s.length * inner);
      // steps never recorded (e.g. inactive concepts) stay 0, as in the diffusers traces
      s.steps.forEach((x, i) => {
        if (x) data.set(x, i * inner);
      });
      this.write(name, 'float32', [s.length, ...s.shape], data, s.description);
    }
    this.series.clear();
    const index: TraceIndex = {
      format: 'cgm-traces/1',
      producer: 'cgm-engine',
      settings,
      tensors: this.tensors,
    };
    writeFileSync(join(this.dir, TRACE_INDEX), `${JSON.stringify(index, null, 2)}\n`);
    return index;
  }

  private write(
    name: string,
    dtype: 'float32' | 'int64',
    shape: readonly number[],
    data: Float32Array | BigInt64Array,
    description: string,
  ): void {
    if (!/^[A-Za-z0-9_./-]+$/.test(name) || name.split('/').some((p) => p === '..' || p === '')) {
      throw new RangeError(`trace name '${name}' is not a safe name`);
    }
    const file = `${name.replaceAll('/', '__')}.npy`;
    const array =
      dtype === 'float32'
        ? { dtype, shape: [...shape], data: data as Float32Array }
        : { dtype, shape: [...shape], data: data as BigInt64Array };
    writeFileSync(join(this.dir, file), encodeNpy(array));
    this.tensors[name] = { file, shape: [...shape], dtype, description };
  }
}
