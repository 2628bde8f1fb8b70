// Light-worker activities that are neither VLM calls nor webhooks (activities/webhooks): writing the
// run manifest to S3.
import { ApplicationFailure } from '@temporalio/common';
import type { ArtifactStore } from '../../core/artifacts/store.js';
import { LIGHT_FAILURE } from '../../core/constants.js';
import type { ArtifactRef } from '../../core/schemas/artifact.js';
import { type RunManifest, RunManifestSchema } from '../../core/schemas/run-manifest.js';

export interface LightActivitiesDeps {
  store: Pick<ArtifactStore, 'putJson'>;
}

export { LIGHT_FAILURE } from '../../core/constants.js';

export function createLightActivities(deps: LightActivitiesDeps) {
  return {
    /** Validates and stores the manifest (content-addressed: rewriting the same manifest is a no-op). */
    async writeManifest(manifest: RunManifest): Promise<ArtifactRef> {
      const parsed = RunManifestSchema.safeParse(manifest);
      if (!parsed.success) {
        throw ApplicationFailure.nonRetryable(
          `run manifest does not match RunManifestSchema: ${parsed.error.message}`,
          LIGHT_FAILURE.manifestInvalid,
        );
      }
      return (await deps.store.putJson(RunManifestSchema, parsed.data, { prefix: 'manifests' })).ref;
    },
  };
}

export type LightActivities = ReturnType<typeof createLightActivities>;
