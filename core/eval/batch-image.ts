// Where a batch image lives: a local path (relative to the data set root, before upload) or the S3
// artifact it was uploaded to.
import { z } from 'zod';
import { ArtifactRefSchema } from '../schemas/artifact.js';

export const BatchImageSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('local'), path: z.string().min(1) }),
  z.object({ kind: z.literal('s3'), ref: ArtifactRefSchema }),
]);
export type BatchImage = z.infer<typeof BatchImageSchema>;
