// A small shaped fp32 array for host-side diffusion maths (docs/architecture.md §4). Storage is always
// Float32Array in row-major (NCHW) order; ops check shapes and never allocate per-element closures.

export interface Tensor {
  readonly data: Float32Array;
  readonly shape: readonly number[];
}

export class ShapeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ShapeError';
  }
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new ShapeError(`invalid dimension ${d} in shape [${shape}]`);
    n *= d;
  }
  return n;
}

/** Wraps (or allocates) data of the given shape; throws when the length does not match. */
export function tensor(shape: readonly number[], data?: Float32Array): Tensor {
  const n = sizeOf(shape);
  if (data && data.length !== n) {
    throw new ShapeError(`data length ${data.length} does not match shape [${shape}] (${n})`);
  }
  return { data: data ?? new Float32Array(n), shape: [...shape] };
}

export function zeros(shape: readonly number[]): Tensor {
  return tensor(shape);
}

export function clone(t: Tensor): Tensor {
  return { data: t.data.slice(), shape: [...t.shape] };
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function assertSameShape(a: Tensor, b: Tensor, what: string): void {
  if (!sameShape(a.shape, b.shape)) {
    throw new ShapeError(`${what}: shapes [${a.shape}] and [${b.shape}] differ`);
  }
}

export function add(a: Tensor, b: Tensor): Tensor {
  assertSameShape(a, b, 'add');
  const out = new Float32Array(a.data.length);
  const x = a.data;
  const y = b.data;
  for (let i = 0; i < out.length; i++) out[i] = x[i] + y[i];
  return { data: out, shape: [...a.shape] };
}

export function sub(a: Tensor, b: Tensor): Tensor {
  assertSameShape(a, b, 'sub');
  const out = new Float32Array(a.data.length);
  const x = a.data;
  const y = b.data;
  for (let i = 0; i < out.length; i++) out[i] = x[i] - y[i];
  return { data: out, shape: [...a.shape] };
}

export function scale(a: Tensor, s: number): Tensor {
  const out = new Float32Array(a.data.length);
  const x = a.data;
  for (let i = 0; i < out.length; i++) out[i] = x[i] * s;
  return { data: out, shape: [...a.shape] };
}

/** y + a·x, new tensor. */
export function axpy(a: number, x: Tensor, y: Tensor): Tensor {
  assertSameShape(x, y, 'axpy');
  const out = new Float32Array(x.data.length);
  const xs = x.data;
  const ys = y.data;
  for (let i = 0; i < out.length; i++) out[i] = ys[i] + a * xs[i];
  return { data: out, shape: [...x.shape] };
}

/** In place: y += a·x. */
export function axpyInPlace(a: number, x: Tensor, y: Tensor): void {
  assertSameShape(x, y, 'axpyInPlace');
  const xs = x.data;
  const ys = y.data;
  for (let i = 0; i < ys.length; i++) ys[i] += a * xs[i];
}

/** a·x + b·y, computed per element in double and stored as fp32. */
export function linear2(a: number, x: Tensor, b: number, y: Tensor): Tensor {
  assertSameShape(x, y, 'linear2');
  const out = new Float32Array(x.data.length);
  const xs = x.data;
  const ys = y.data;
  for (let i = 0; i < out.length; i++) out[i] = a * xs[i] + b * ys[i];
  return { data: out, shape: [...x.shape] };
}

/** a·x + b·y + c·z, computed per element in double and stored as fp32. */
export function linear3(a: number, x: Tensor, b: number, y: Tensor, c: number, z: Tensor): Tensor {
  assertSameShape(x, y, 'linear3');
  assertSameShape(x, z, 'linear3');
  const out = new Float32Array(x.data.length);
  const xs = x.data;
  const ys = y.data;
  const zs = z.data;
  for (let i = 0; i < out.length; i++) out[i] = a * xs[i] + b * ys[i] + c * zs[i];
  return { data: out, shape: [...x.shape] };
}

/** Elementwise product with a mask of 0/1 bytes that is broadcast over the leading axes. */
export function maskTrailing(t: Tensor, mask: Uint8Array): Tensor {
  const inner = mask.length;
  if (inner === 0 || t.data.length % inner !== 0) {
    throw new ShapeError(`mask of ${inner} does not tile tensor [${t.shape}]`);
  }
  const out = new Float32Array(t.data.length);
  const x = t.data;
  for (let base = 0; base < x.length; base += inner) {
    for (let i = 0; i < inner; i++) out[base + i] = mask[i] ? x[base + i] : 0;
  }
  return { data: out, shape: [...t.shape] };
}

export function maxAbsDiff(a: Tensor, b: Tensor): number {
  assertSameShape(a, b, 'maxAbsDiff');
  let m = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs(a.data[i] - b.data[i]);
    if (d > m || Number.isNaN(d)) m = d;
  }
  return m;
}

export function bitEqual(a: Tensor, b: Tensor): boolean {
  if (!sameShape(a.shape, b.shape)) return false;
  const x = new Uint32Array(a.data.buffer, a.data.byteOffset, a.data.length);
  const y = new Uint32Array(b.data.buffer, b.data.byteOffset, b.data.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/** Concatenates along axis 0; every other axis must agree. */
export function concatBatch(parts: readonly Tensor[]): Tensor {
  if (parts.length === 0) throw new ShapeError('concatBatch needs at least one tensor');
  const inner = parts[0].shape.slice(1);
  let batch = 0;
  for (const p of parts) {
    if (!sameShape(p.shape.slice(1), inner)) {
      throw new ShapeError(`concatBatch: [${p.shape}] does not match trailing shape [${inner}]`);
    }
    batch += p.shape[0];
  }
  const out = new Float32Array(batch * sizeOf(inner));
  let offset = 0;
  for (const p of parts) {
    out.set(p.data, offset);
    offset += p.data.length;
  }
  return { data: out, shape: [batch, ...inner] };
}

/** Entry `index` of axis 0, keeping a batch axis of 1. Copies. */
export function batchEntry(t: Tensor, index: number): Tensor {
  const batch = t.shape[0];
  if (!(index >= 0 && index < batch)) throw new ShapeError(`batch index ${index} out of [0, ${batch})`);
  const inner = t.data.length / batch;
  return {
    data: t.data.slice(index * inner, (index + 1) * inner),
    shape: [1, ...t.shape.slice(1)],
  };
}

export function splitBatch(t: Tensor): Tensor[] {
  const out: Tensor[] = [];
  for (let i = 0; i < t.shape[0]; i++) out.push(batchEntry(t, i));
  return out;
}

export function repeatBatch(t: Tensor, times: number): Tensor {
  if (t.shape[0] !== 1) throw new ShapeError(`repeatBatch expects batch 1, got [${t.shape}]`);
  const parts: Tensor[] = [];
  for (let i = 0; i < times; i++) parts.push(t);
  return concatBatch(parts);
}

// fp16 ↔ fp32 bit conversion for fp16 graph I/O (same algorithm as onnx-graph.ts, kept here so the
// maths modules do not import ONNX Runtime).
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE 754 binary32 → binary16 bits, round to nearest even, with subnormals, inf and NaN. */
export function float32ToFloat16Bits(src: Float32Array): Uint16Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) {
    f32[0] = src[i];
    const x = u32[0];
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    const mant = x & 0x7fffff;
    if (exp === 0xff) {
      out[i] = sign | 0x7c00 | (mant ? 0x200 : 0);
      continue;
    }
    const e = exp - 127 + 15;
    if (e >= 0x1f) {
      out[i] = sign | 0x7c00;
    } else if (e <= 0) {
      if (e < -10) {
        out[i] = sign;
      } else {
        const m = mant | 0x800000;
        const shift = 14 - e;
        let half = m >>> shift;
        const rem = m & ((1 << shift) - 1);
        const mid = 1 << (shift - 1);
        if (rem > mid || (rem === mid && half & 1)) half++;
        out[i] = sign | half;
      }
    } else {
      let half = (e << 10) | (mant >>> 13);
      const rem = mant & 0x1fff;
      if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
      out[i] = sign | half;
    }
  }
  return out;
}

/** IEEE 754 binary16 bits → binary32 (exact). */
export function float16BitsToFloat32(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const h = src[i];
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) out[i] = sign * mant * 2 ** -24;
    else if (exp === 0x1f) out[i] = mant ? Number.NaN : sign * Number.POSITIVE_INFINITY;
    else out[i] = sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }
  return out;
}
