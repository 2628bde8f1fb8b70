import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import {
  decodeImage,
  encodeMaskPng,
  encodePng,
  generationSize,
  ImageInputError,
} from '../../gpu-worker/engine/image.js';

const sdxl = { area: 1024 * 1024, multiple: 32 };
const tiny = { area: 128 * 128, multiple: 32 };

describe('generationSize', () => {
  it("keeps the input's aspect ratio first and the model's area second, in multiples of 32", () => {
    expect(generationSize(1024, 1024, sdxl)).toEqual({ width: 1024, height: 1024 });
    expect(generationSize(300, 300, sdxl)).toEqual({ width: 1024, height: 1024 });
    expect(generationSize(640, 480, sdxl)).toEqual({ width: 1152, height: 864 }); // exactly 4:3
    expect(generationSize(480, 640, sdxl)).toEqual({ width: 864, height: 1152 });
    expect(generationSize(1920, 1080, sdxl)).toEqual({ width: 1376, height: 768 }); // 16:9 within 0.8%
    expect(generationSize(640, 480, tiny)).toEqual({ width: 128, height: 96 });
    expect(generationSize(128, 128, tiny)).toEqual({ width: 128, height: 128 });
  });
  it('stays within a rounding of the aspect and near the area for every size', () => {
    for (let w = 100; w <= 4000; w += 137) {
      for (let h = Math.ceil(w / 4); h <= 4 * w && h <= 4000; h += 211) {
        const g = generationSize(w, h, sdxl);
        expect(g.width % 32, `${w}x${h}`).toBe(0);
        expect(g.height % 32, `${w}x${h}`).toBe(0);
        // the rounding of the shorter side to 32 bounds the aspect error
        const shorter = Math.min(g.width, g.height);
        expect(Math.abs(Math.log(g.width / g.height / (w / h))), `${w}x${h}`).toBeLessThanOrEqual(
          Math.log1p(32 / shorter),
        );
        expect(Math.abs(Math.log((g.width * g.height) / sdxl.area)), `${w}x${h}`).toBeLessThan(0.35);
      }
    }
  });
  it('refuses empty sizes and aspect ratios beyond 4:1, naming the size', () => {
    expect(() => generationSize(0, 10, sdxl)).toThrow(ImageInputError);
    expect(() => generationSize(3000, 10, sdxl)).toThrow(/3000×10 px .*from 1:4 to 4:1/);
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
    const img = await decodeImage(png, { area: 64 * 32, multiple: 32 });
    expect(img.shape).toEqual([1, 3, 32, 64]);
    expect(img.source).toEqual({ width: 64, height: 32 });
    // pixel (0,0) red channel: raw[0] = 0 → -1; green raw[1] = 37
    expect(img.data[0]).toBeCloseTo(-1, 6);
    expect(img.data[w * h]).toBeCloseTo((37 / 255) * 2 - 1, 6);
    const back = await sharp(await encodePng(img))
      .raw()
      .toBuffer();
    expect(Buffer.compare(back, raw)).toBe(0);
  });
  it('resizes a 4:3 image to its generation size without cropping; a fixed-size policy crops', async () => {
    // left half red, right half blue: a crop would change the share of each colour
    const w = 640;
    const h = 480;
    const raw = Buffer.alloc(w * h * 3);
    for (let p = 0; p < w * h; p++) raw[p * 3 + (p % w < w / 8 ? 0 : 2)] = 255;
    const png = await sharp(raw, { raw: { width: w, height: h, channels: 3 } })
      .png()
      .toBuffer();
    const redShare = (img: { data: Float32Array; shape: number[] }) => {
      const [, , ih, iw] = img.shape;
      let red = 0;
      for (let p = 0; p < ih * iw; p++) if (img.data[p] > 0) red++;
      return red / (ih * iw);
    };
    const whole = await decodeImage(png, tiny);
    expect(whole.shape).toEqual([1, 3, 96, 128]);
    expect(whole.source).toEqual({ width: 640, height: 480 });
    expect(redShare(whole)).toBeCloseTo(1 / 8, 2);
    const cropped = await decodeImage(png, { ...tiny, exact: { width: 128, height: 128 } });
    expect(cropped.shape).toEqual([1, 3, 128, 128]);
    expect(redShare(cropped)).toBeLessThan(0.02); // the centre crop cut the red eighth away
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
