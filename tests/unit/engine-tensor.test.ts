import { describe, expect, it } from 'vitest';
import { recordedNoise, seededGaussianNoise } from '../../gpu-worker/engine/noise.js';
import { encodeNpy, parseNpy } from '../../gpu-worker/engine/npy.js';
import {
  add,
  axpy,
  batchEntry,
  concatBatch,
  float16BitsToFloat32,
  float32ToFloat16Bits,
  linear3,
  repeatBatch,
  ShapeError,
  splitBatch,
  sub,
  tensor,
} from '../../gpu-worker/engine/tensor.js';

describe('tensor', () => {
  it('checks shapes on construction and elementwise ops', () => {
    expect(() => tensor([2, 3], new Float32Array(5))).toThrow(ShapeError);
    const a = tensor([2, 2], new Float32Array([1, 2, 3, 4]));
    const b = tensor([4], new Float32Array([1, 1, 1, 1]));
    expect(() => add(a, b)).toThrow(/shapes \[2,2\] and \[4\] differ/);
    const c = tensor([2, 2], new Float32Array([1, 1, 1, 1]));
    expect([...sub(a, c).data]).toEqual([0, 1, 2, 3]);
    expect([...axpy(2, a, c).data]).toEqual([3, 5, 7, 9]);
    expect([...linear3(1, a, 2, c, -1, a).data]).toEqual([2, 2, 2, 2]);
  });

  it('concatenates and splits along the batch axis', () => {
    const a = tensor([1, 2], new Float32Array([1, 2]));
    const b = tensor([2, 2], new Float32Array([3, 4, 5, 6]));
    const ab = concatBatch([a, b]);
    expect(ab.shape).toEqual([3, 2]);
    expect([...batchEntry(ab, 2).data]).toEqual([5, 6]);
    expect(splitBatch(ab).map((t) => [...t.data])).toEqual([
      [1, 2],
      [3, 4],
      [5, 6],
    ]);
    expect(repeatBatch(a, 3).shape).toEqual([3, 2]);
    expect(() => concatBatch([a, tensor([1, 3])])).toThrow(ShapeError);
  });

  it('converts fp16 bits exactly for representable values and rounds to nearest even', () => {
    const values = new Float32Array([0, -0, 1, -2.5, 65504, 2 ** -24, 0.099975586, Infinity, -Infinity]);
    expect([...float16BitsToFloat32(float32ToFloat16Bits(values))]).toEqual([...values]);
    expect(float32ToFloat16Bits(new Float32Array([1 + 2 ** -11]))[0]).toBe(0x3c00); // tie → even
    expect(float32ToFloat16Bits(new Float32Array([70000]))[0]).toBe(0x7c00); // overflow → inf
    expect(Number.isNaN(float16BitsToFloat32(float32ToFloat16Bits(new Float32Array([Number.NaN])))[0])).toBe(
      true,
    );
  });
});

describe('npy', () => {
  it('round-trips float32 and int64 arrays with 64-byte aligned headers', () => {
    const f = encodeNpy({ dtype: 'float32', shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6.5]) });
    expect((f.length - 24) % 64).toBe(0);
    const back = parseNpy(f);
    expect(back.dtype).toBe('float32');
    expect(back.shape).toEqual([2, 3]);
    expect([...back.data]).toEqual([1, 2, 3, 4, 5, 6.5]);
    const i = parseNpy(encodeNpy({ dtype: 'int64', shape: [3], data: new BigInt64Array([801n, 793n, -1n]) }));
    expect([...i.data]).toEqual([801n, 793n, -1n]);
    expect(parseNpy(encodeNpy({ dtype: 'float32', shape: [], data: new Float32Array([7]) })).shape).toEqual(
      [],
    );
  });

  it('parses a header written by numpy', () => {
    const header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
    const padded = header + ' '.repeat(128 - 10 - header.length - 1) + '\n';
    const bytes = new Uint8Array(128 + 8);
    bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, padded.length, 0]);
    for (let k = 0; k < padded.length; k++) bytes[10 + k] = padded.charCodeAt(k);
    new DataView(bytes.buffer).setFloat32(128, 1.5, true);
    new DataView(bytes.buffer).setFloat32(132, -3, true);
    expect([...parseNpy(bytes).data]).toEqual([1.5, -3]);
  });
});

describe('noise sources (§1.5, §6 item 16)', () => {
  const draw = { purpose: 'xt', timestep: 9 };

  it('seeded Gaussian: deterministic per seed, standard-normal moments', () => {
    const a = seededGaussianNoise(42).next([1, 4, 64, 64], draw).data;
    const b = seededGaussianNoise(42).next([1, 4, 64, 64], draw).data;
    const c = seededGaussianNoise(43).next([1, 4, 64, 64], draw).data;
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    let mean = 0;
    let sq = 0;
    for (const v of a) {
      mean += v;
      sq += v * v;
    }
    mean /= a.length;
    expect(Math.abs(mean)).toBeLessThan(0.02);
    expect(Math.abs(sq / a.length - mean * mean - 1)).toBeLessThan(0.03);
  });

  it('recorded noise replays draws in order, checks shapes and reports exhaustion', () => {
    const first = tensor([2], new Float32Array([1, 2]));
    const source = recordedNoise([first, tensor([3])]);
    expect(source.next([2], draw)).toBe(first);
    expect(() => source.next([2], draw)).toThrow(ShapeError);
    expect(() => source.next([3], draw)).toThrow(/exhausted after 2 draws/);
  });
});
