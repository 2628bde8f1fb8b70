// Images for the VLM: checked with sharp (so a corrupt upload fails here, non-retryably, instead of as
// an opaque 400 from the server) and sent as a data URL, or as a URL the server fetches itself.
import sharp from 'sharp';
import { invalidInput } from './failures.js';

/** What a VLM call receives: the bytes, or a URL (presigned S3 GET) the VLM server can fetch. */
export type ImageInput = { bytes: Uint8Array; name?: string } | { url: string; name?: string };

export interface PreparedImage {
  /** data: URL or http(s) URL, as sent in the `image_url` content part. */
  url: string;
  /** sharp's format name (jpeg, png, webp, …) when the bytes were checked; undefined for URLs. */
  format?: string;
  width?: number;
  height?: number;
}

// Formats OpenAI-compatible servers (vLLM decodes with PIL) reliably accept as data URLs; others are
// re-encoded to PNG.
const PASS_THROUGH: Record<string, string> = { jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp' };

export async function prepareImage(input: ImageInput): Promise<PreparedImage> {
  const label = input.name ?? 'image';
  if ('url' in input) {
    if (!/^(https?:|data:image\/)/.test(input.url)) {
      throw invalidInput(
        `${label}: image URL must be http(s) or a data:image/ URL, got '${input.url.slice(0, 40)}'`,
      );
    }
    return { url: input.url };
  }
  if (input.bytes.byteLength === 0) throw invalidInput(`${label}: the image is empty (0 bytes)`);
  const fail = (err: unknown) =>
    invalidInput(
      `${label}: cannot decode the image (${input.bytes.byteLength} bytes): ${(err as Error).message}; expected a JPEG, PNG or WebP file`,
    );
  const meta = await sharp(input.bytes)
    .metadata()
    .catch((err: unknown) => {
      throw fail(err);
    });
  // metadata() reads headers only; decoding a few pixels catches truncated bodies too.
  await sharp(input.bytes)
    .resize(8, 8, { fit: 'inside' })
    .raw()
    .toBuffer()
    .catch((err: unknown) => {
      throw fail(err);
    });
  const format = meta.format;
  const mime = format ? PASS_THROUGH[format] : undefined;
  const bytes = mime ? input.bytes : await sharp(input.bytes).png().toBuffer();
  const type = mime ?? 'image/png';
  return {
    url: `data:${type};base64,${Buffer.from(bytes).toString('base64')}`,
    format,
    width: meta.width,
    height: meta.height,
  };
}
