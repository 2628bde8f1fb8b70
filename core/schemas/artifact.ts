// A reference to bytes in the artifact store: what travels through Temporal instead of the bytes.
import { z } from 'zod';

export const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex digits (sha256)');

export const ArtifactRefSchema = z.object({
  bucket: z.string().min(1),
  key: z.string().min(1),
  sha256: Sha256Hex,
  bytes: z.number().int().nonnegative(),
  contentType: z.string().min(1),
});
export type ArtifactRef = z.infer<typeof ArtifactRefSchema>;
