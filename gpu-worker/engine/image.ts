// Image in/out for the engine (sharp/libvips). The UNet needs H and W to be multiples of 32
// (latent/4 attention grid, docs/algorithm.md §1.1, §3.4), so every input is brought to such
// a size by one documented policy before it reaches the VAE.
import sharp, { type Metadata } from 'sharp';
import { MAX_ASPECT_RATIO } from '../../core/constants.js';

/** A decoded image as planar float32 RGB in [-1, 1], NCHW with N = 1. */
export interface ImageTensor {
  data: Float32Array;
  shape: [1, 3, number, number];
}

export interface SizePolicy {
  /** Pixels per image the model was made for (the bundle's exported height × width; SDXL 1024²). */
  area: number;
  /** Every side is a multiple of this (32 for SDXL-family UNets). */
  multiple: number;
  /** Graphs exported for one fixed size only: cover-resize and centre-crop to exactly this size. */
  exact?: { width: number; height: number };
}

export class ImageInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImageInputError';
  }
}

/**
 * The size an image is generated at (docs/algorithm.md §1.1): sides multiples of `multiple`, close to the
 * input's aspect ratio and to the model's area. Among the candidate sizes it minimises
 * |ln aspect error| + 0.1·|ln area error|, so the aspect comes first: a 4:3 photo on SDXL is generated at
 * 1152×864 (exactly 4:3, area −5%), 16:9 at 1376×768 (aspect +0.8%), a square at the model's own size.
 * The image is resized to it without cropping; what aspect change remains is that of the rounding.
 */
export function generationSize(
  width: number,
  height: number,
  policy: Pick<SizePolicy, 'area' | 'multiple'>,
): { width: number; height: number } {
  if (!(width > 0 && height > 0)) throw new ImageInputError(`image size ${width}x${height} is empty`);
  const aspect = width / height;
  if (aspect > MAX_ASPECT_RATIO || aspect < 1 / MAX_ASPECT_RATIO)
    throw new ImageInputError(
      `image is ${width}×${height} px (aspect ${aspect.toFixed(2)}); the model handles aspect ratios from 1:${MAX_ASPECT_RATIO} to ${MAX_ASPECT_RATIO}:1`,
    );
  const m = policy.multiple;
  const ideal = Math.sqrt(policy.area * aspect); // width at the model's area and the input's aspect
  let best = { width: m, height: m };
  let bestCost = Number.POSITIVE_INFINITY;
  for (const w of [Math.floor(ideal / m) * m, Math.ceil(ideal / m) * m, Math.round(ideal / m) * m + m]) {
    if (w < m) continue;
    for (const h of [Math.floor(w / aspect / m) * m, Math.ceil(w / aspect / m) * m]) {
      if (h < m) continue;
      const cost = Math.abs(Math.log(w / h / aspect)) + 0.1 * Math.abs(Math.log((w * h) / policy.area));
      if (cost < bestCost - 1e-12) {
        best = { width: w, height: h };
        bestCost = cost;
      }
    }
  }
  return best;
}

/** How a bundle takes images: any multiple of 32 near its area, or (an older fixed-size export) its size. */
export function inputSizePolicy(bundle: {
  width: number;
  height: number;
  area: number;
  sizeMultiple: number;
  dynamicSpatial: boolean;
}): SizePolicy {
  const policy = { area: bundle.area, multiple: bundle.sizeMultiple };
  return bundle.dynamicSpatial
    ? policy
    : { ...policy, exact: { width: bundle.width, height: bundle.height } };
}

/** An image ready for the VAE, with the size it had before it was resized. */
export interface DecodedImage extends ImageTensor {
  source: { width: number; height: number };
}

/**
 * Decodes any format sharp reads (PNG, JPEG, WebP, …), applies EXIF orientation, drops alpha on white,
 * and resizes to the generation size (no crop) or, for a fixed-size bundle, covers and centre-crops.
 */
export async function decodeImage(bytes: Uint8Array, policy: SizePolicy): Promise<DecodedImage> {
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
  const { width, height } = policy.exact ?? generationSize(w0, h0, policy);
  const { data, info } = await sharp(bytes)
    .rotate()
    .flatten({ background: '#ffffff' })
    .resize(width, height, { fit: policy.exact ? 'cover' : 'fill', position: 'centre', kernel: 'lanczos3' })
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return {
    data: hwcToPlanar(data, info.width, info.height, info.channels),
    shape: [1, 3, info.height, info.width],
    source: { width: w0, height: h0 },
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
