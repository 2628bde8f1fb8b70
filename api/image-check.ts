// Images are judged by their bytes, never by the declared Content-Type: the magic number must say
// PNG, JPEG or WebP (and agree with a declared image type), the header's dimensions must be within
// limits (checked before decoding, so a decompression bomb is refused cheaply), and sharp must decode
// the whole image without error.
import sharp from 'sharp';
import { MAX_ASPECT_RATIO } from '../core/constants.js';
import { ApiError } from './errors.js';

export type ImageFormat = 'png' | 'jpeg' | 'webp';
export const IMAGE_CONTENT_TYPES: Record<ImageFormat, string> = {
  png: 'image/png',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
};

export interface ImageLimits {
  maxImageBytes: number;
  minImageSide: number;
  maxImageSide: number;
}

export interface CheckedImage {
  format: ImageFormat;
  contentType: string;
  width: number;
  height: number;
}

/** The format named by the first bytes, or null. */
export function sniffImage(bytes: Uint8Array): ImageFormat | null {
  const at = (i: number, ...sig: number[]) => sig.every((b, k) => bytes[i + k] === b);
  if (at(0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'png';
  if (at(0, 0xff, 0xd8, 0xff)) return 'jpeg';
  if (at(0, 0x52, 0x49, 0x46, 0x46) && at(8, 0x57, 0x45, 0x42, 0x50)) return 'webp';
  return null;
}

/** Width and height from a PNG's IHDR chunk (bytes 16-23, big-endian), when it is where it must be. */
function pngSize(bytes: Uint8Array): { width: number; height: number } | null {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const isIhdr = bytes[12] === 0x49 && bytes[13] === 0x48 && bytes[14] === 0x44 && bytes[15] === 0x52;
  return isIhdr ? { width: view.getUint32(16), height: view.getUint32(20) } : null;
}

const normalType = (t: string | undefined) => t?.split(';')[0]?.trim().toLowerCase() || undefined;

export async function checkImage(
  bytes: Uint8Array,
  declaredType: string | undefined,
  limits: ImageLimits,
  field = 'image',
): Promise<CheckedImage> {
  if (bytes.byteLength > limits.maxImageBytes)
    throw new ApiError(
      'payload_too_large',
      `image is ${bytes.byteLength} bytes; the limit is ${limits.maxImageBytes}`,
      field,
    );
  const format = sniffImage(bytes);
  const declared = normalType(declaredType);
  if (!format) {
    const head = Buffer.from(bytes.subarray(0, 8)).toString('hex');
    throw new ApiError(
      'invalid_image',
      `the bytes are not a PNG, JPEG or WebP image (they start with 0x${head || '(empty)'}), whatever the declared type '${declared ?? '(none)'}'`,
      field,
    );
  }
  const contentType = IMAGE_CONTENT_TYPES[format];
  // application/octet-stream and a missing type are fine; a different image type is a client bug.
  if (
    declared?.startsWith('image/') &&
    declared !== contentType &&
    !(declared === 'image/jpg' && format === 'jpeg')
  )
    throw new ApiError(
      'invalid_image',
      `declared type '${declared}' but the bytes are ${format.toUpperCase()}`,
      field,
    );
  const { minImageSide: min, maxImageSide: max } = limits;
  const tooLarge = (width: number, height: number) =>
    new ApiError(
      'image_dimensions',
      `image is ${width}×${height} px; width and height must each be between ${min} and ${max} px`,
      field,
    );
  // A PNG states its size in IHDR; libvips refuses sides over 16383 before saying so, so read it here.
  const ihdr = format === 'png' && bytes.byteLength >= 24 ? pngSize(bytes) : null;
  if (ihdr && (ihdr.width > max || ihdr.height > max)) throw tooLarge(ihdr.width, ihdr.height);
  let width: number;
  let height: number;
  try {
    const meta = await sharp(bytes, { failOn: 'none' }).metadata();
    width = meta.width ?? 0;
    height = meta.height ?? 0;
  } catch {
    // libvips' own message stays out of the answer: it describes the server's decoder, not the file.
    throw new ApiError(
      'invalid_image',
      `the ${format.toUpperCase()} header cannot be read (not a valid ${format.toUpperCase()} file)`,
      field,
    );
  }
  if (width < min || height < min || width > max || height > max) throw tooLarge(width, height);
  // Generated at its own aspect ratio (no crop): only as wide or tall as the model's training buckets.
  if (Math.max(width / height, height / width) > MAX_ASPECT_RATIO)
    throw new ApiError(
      'image_dimensions',
      `image is ${width}×${height} px; its aspect ratio must be between 1:${MAX_ASPECT_RATIO} and ${MAX_ASPECT_RATIO}:1`,
      field,
    );
  try {
    // Full decode (truncated or corrupt data fails here); limitInputPixels is a second guard.
    await sharp(bytes, { failOn: 'truncated', limitInputPixels: max * max })
      .resize(64, 64, { fit: 'inside' }) // streams the decode; keeps memory small
      .raw()
      .toBuffer();
  } catch {
    throw new ApiError(
      'invalid_image',
      `the ${format.toUpperCase()} image does not decode (truncated or corrupt data)`,
      field,
    );
  }
  return { format, contentType, width, height };
}
