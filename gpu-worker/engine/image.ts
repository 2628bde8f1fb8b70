// Image in/out for the engine (sharp/libvips). The UNet needs H and W to be multiples of 32
// (latent/4 attention grid, docs/algorithm.md §1.1, §3.4), so every input is brought to such
// a size by one documented policy before it reaches the VAE.
import sharp, { type Metadata } from 'sharp';

/** A decoded image as planar float32 RGB in [-1, 1], NCHW with N = 1. */
export interface ImageTensor {
  data: Float32Array;
  shape: [1, 3, number, number];
}

export interface SizePolicy {
  /** The model's native resolution (SDXL: 1024). The longer side is scaled to this. */
  resolution: number;
  /** Every side is rounded down to a multiple of this (32 for SDXL-family UNets). */
  multiple: number;
  /** Graphs exported for one fixed size: cover-resize and centre-crop to exactly this size. */
  exact?: { width: number; height: number };
}

export class ImageInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImageInputError';
  }
}

/**
 * Target size: scale so the longer side equals `resolution` (up or down, aspect kept), then round each
 * side down to a multiple of `multiple` (at least one multiple). The resize then covers that box and
 * centre-crops the remainder, so at most `multiple - 1` pixels per side are lost to rounding.
 */
export function targetSize(
  width: number,
  height: number,
  policy: SizePolicy,
): { width: number; height: number } {
  if (!(width > 0 && height > 0)) throw new ImageInputError(`image size ${width}x${height} is empty`);
  const scale = policy.resolution / Math.max(width, height);
  const round = (v: number) =>
    Math.max(policy.multiple, Math.floor((v * scale) / policy.multiple) * policy.multiple);
  return { width: round(width), height: round(height) };
}

/** Decodes any format sharp reads (PNG, JPEG, WebP, …), applies EXIF orientation, drops alpha on white. */
export async function decodeImage(bytes: Uint8Array, policy: SizePolicy): Promise<ImageTensor> {
  let meta: Metadata;
  try {
    meta = await sharp(bytes).metadata();
  } catch (err) {
    throw new ImageInputError(`image bytes are not a decodable image: ${(err as Error).message}`);
  }
  const oriented = (meta.orientation ?? 1) >= 5;
  const w0 = oriented ? meta.height : meta.width;
  const h0 = oriented ? meta.width : meta.height;
  if (!w0 || !h0) throw new ImageInputError('image has no width/height');
  const { width, height } = policy.exact ?? targetSize(w0, h0, policy);
  const { data, info } = await sharp(bytes)
    .rotate()
    .flatten({ background: '#ffffff' })
    .resize(width, height, { fit: 'cover', position: 'centre', kernel: 'lanczos3' })
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return {
    data: hwcToPlanar(data, info.width, info.height, info.channels),
    shape: [1, 3, info.height, info.width],
  };
}

/** HWC uint8 → planar CHW float32 in [-1, 1] (diffusers: x/255 then 2x−1). */
function hwcToPlanar(hwc: Uint8Array, width: number, height: number, channels: number): Float32Array {
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) out[c * plane + p] = (hwc[p * channels + c] / 255) * 2 - 1;
  }
  return out;
}

/** Planar float32 in [-1, 1] (a VAE decode) → PNG bytes, clamped like diffusers (x·0.5+0.5 in [0,1]). */
export async function encodePng(image: ImageTensor): Promise<Buffer> {
  const [, channels, height, width] = image.shape;
  if (channels !== 3) throw new Error(`encodePng expects 3 channels, got ${channels}`);
  const plane = width * height;
  const hwc = Buffer.alloc(plane * 3);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) {
      const v = Math.min(1, Math.max(0, image.data[c * plane + p] * 0.5 + 0.5));
      hwc[p * 3 + c] = Math.round(v * 255);
    }
  }
  return sharp(hwc, { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer();
}

/** A single-channel mask in [0, 1] (h×w) as a grey PNG, upscaled by nearest neighbour for viewing. */
export async function encodeMaskPng(
  mask: Float32Array,
  width: number,
  height: number,
  scale = 1,
): Promise<Buffer> {
  const grey = Buffer.alloc(width * height);
  for (let i = 0; i < grey.length; i++) grey[i] = Math.round(Math.min(1, Math.max(0, mask[i])) * 255);
  return sharp(grey, { raw: { width, height, channels: 1 } })
    .resize(width * scale, height * scale, { kernel: 'nearest' })
    .toColourspace('b-w')
    .png()
    .toBuffer();
}
