// Status answers carry the workflow's JSON as is; every ArtifactRef inside gains a presigned `url`,
// so a client can fetch results without S3 credentials.
import { type ArtifactRef, ArtifactRefSchema } from '../core/schemas/artifact.js';

export async function withPresignedUrls(
  value: unknown,
  presign: (ref: ArtifactRef) => Promise<string>,
): Promise<unknown> {
  if (Array.isArray(value)) return Promise.all(value.map((v) => withPresignedUrls(v, presign)));
  if (value && typeof value === 'object') {
    const ref = ArtifactRefSchema.safeParse(value);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = await withPresignedUrls(v, presign);
    if (ref.success) out.url = await presign(ref.data);
    return out;
  }
  return value;
}
