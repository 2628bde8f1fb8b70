// The artifact store (S3) of the CGM_S3_* configuration, as every command that reads or writes
// artifacts opens it.
import { type ArtifactStore, createArtifactStore } from '../core/artifacts/store.js';
import type { Config } from '../core/config/index.js';

export function artifactStoreOf(config: Config): ArtifactStore {
  return createArtifactStore({
    bucket: config.s3.bucket,
    s3: {
      endpoint: config.s3.endpoint,
      region: config.s3.region,
      accessKeyId: config.s3.accessKeyId,
      secretAccessKey: config.s3.secretAccessKey,
      forcePathStyle: config.s3.forcePathStyle,
    },
  });
}
