import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import {
  decodeImage,
  encodeMaskPng,
  encodePng,
  ImageInputError,
  targetSize,
} from '../../gpu-worker/engine/image.js';

const sdxl = { resolution: 1024, multiple: 32 };

describe('targetSize', () => {
  it('scales the longer side to the resolution and rounds down to multiples of 32', () => {
    expect(targetSize(1024, 1024, sdxl)).toEqual({ width: 1024, height: 1024 });
    expect(targetSize(640, 480, sdxl)).toEqual({ width: 1024, height: 768 });
    expect(targetSize(500, 333, { resolution: 128, multiple: 32 })).toEqual({ width: 128, height: 64 });
    expect(targetSize(3000, 10, sdxl)).toEqual({ width: 1024, height: 32 });
  });
  it('rejects empty sizes', () => {
    expect(() => targetSize(0, 10, sdxl)).toThrow(ImageInputError);
  });
});

describe('decode and encode', () => {
  it('round-trips pixel values exactly at the target size', async () => {
    const w = 64;
    const h = 32;
    const raw = Buffer.alloc(w * h * 3);
    for (let i = 0; i < raw.length; i++) raw[i] = (i * 37) % 256;
    const png = await sharp(raw, { raw: { width: w, height: h, channels: 3 } })
      .png()
      .toBuffer();
    const img = await decodeImage(png, { resolution: 64, multiple: 32 });
    expect(img.shape).toEqual([1, 3, 32, 64]);
    // pixel (0,0) red channel: raw[0] = 0 → -1; green raw[1] = 37
    expect(img.data[0]).toBeCloseTo(-1, 6);
    expect(img.data[w * h]).toBeCloseTo((37 / 255) * 2 - 1, 6);
    const back = await sharp(await encodePng(img))
      .raw()
      .toBuffer();
    expect(Buffer.compare(back, raw)).toBe(0);
  });
  it('refuses bytes that are not an image', async () => {
    await expect(decodeImage(new TextEncoder().encode('not an image'), sdxl)).rejects.toThrow(
      /not a decodable image/,
    );
  });
  it('writes masks as grey PNGs at the requested scale', async () => {
    const png = await encodeMaskPng(new Float32Array([0, 1, 1, 0]), 2, 2, 4);
    const meta = await sharp(png).metadata();
    expect([meta.width, meta.height, meta.channels]).toEqual([8, 8, 1]);
  });
});
