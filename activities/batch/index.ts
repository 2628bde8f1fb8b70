// The batch workflow's light-worker activities: sample a page of the data set manifest, store outcome
// pages, look up what became of a child run, and write the results and the report. Inputs and outputs
// are small JSON and ArtifactRefs; the manifest, outcomes, records and report stay in S3.
import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { ArtifactIntegrityError, ArtifactNotFoundError } from '../../core/artifacts/errors.js';
import type { ArtifactStore } from '../../core/artifacts/store.js';
import { toJsonl } from '../../core/eval/jsonl.js';
import type { Seed } from '../../core/eval/sampling.js';
import type { ArtifactRef } from '../../core/schemas/artifact.js';
import {
  type BatchOutcome,
  BatchOutcomeSchema,
  type BatchResult,
  type BatchRunSettings,
  type BatchVariant,
} from '../../core/schemas/batch-io.js';
import { type ClosedRun, manifestOfRun, outcomeOfRun } from './child-runs.js';
import { JSONL, type ReportBatchInput, reportBatch } from './report.js';
import {
  BATCH_FAILURE,
  checkVariants,
  parseS3Manifest,
  type SampledImage,
  sampleManifest,
} from './sample-manifest.js';

export type { SampledImage } from './sample-manifest.js';
export { BATCH_FAILURE } from './sample-manifest.js';

export interface BatchActivitiesDeps {
  store: ArtifactStore;
  /** Reads child runs' status and progress (their manifests). */
  client: Client;
}

export interface SampleBatchPageInput {
  manifest: ArtifactRef;
  sample: { perDataset?: number; seed: Seed };
  run: Pick<BatchRunSettings, 'methods' | 'planning'>;
  variants: BatchVariant[];
  /** Sampled images [offset, offset + limit) in batch order. */
  offset: number;
  limit: number;
}

export interface SampleBatchPage {
  /** Images in the whole sample. */
  images: number;
  lines: SampledImage[];
}

const heartbeat = (details: unknown) => {
  try {
    Context.current().heartbeat(details);
  } catch {
    // called outside an activity (tests): nothing to report to
  }
};

/** A missing or corrupt manifest is the caller's mistake, not a transient fault. */
async function readManifestText(store: ArtifactStore, ref: ArtifactRef): Promise<string> {
  try {
    return new TextDecoder().decode(await store.get(ref));
  } catch (err) {
    if (err instanceof ArtifactNotFoundError || err instanceof ArtifactIntegrityError) {
      throw ApplicationFailure.nonRetryable(`manifest: ${err.message}`, BATCH_FAILURE.invalidInput);
    }
    throw err;
  }
}

export function createBatchActivities(deps: BatchActivitiesDeps) {
  const { store, client } = deps;
  return {
    /** The same call returns the same lines on every attempt and every page (seeded, pure). */
    async sampleBatchPage(input: SampleBatchPageInput): Promise<SampleBatchPage> {
      checkVariants(input.run, input.variants);
      const text = await readManifestText(store, input.manifest);
      const all = sampleManifest(
        parseS3Manifest(text, `s3://${input.manifest.bucket}/${input.manifest.key}`),
        input.sample,
      );
      return { images: all.length, lines: all.slice(input.offset, input.offset + input.limit) };
    },

    /** One page of outcomes as JSONL (content-addressed: a retry writes nothing new). */
    async writeOutcomePage(input: { batchId: string; outcomes: BatchOutcome[] }): Promise<ArtifactRef> {
      const text = toJsonl(input.outcomes.map((o) => BatchOutcomeSchema.parse(o)));
      return (
        await store.put(new TextEncoder().encode(text), {
          contentType: JSONL,
          prefix: `batches/${input.batchId}`,
        })
      ).ref;
    },

    /** The manifest a failed or cancelled child wrote before it ended, if any. */
    async childRunManifest(input: { workflowId: string }): Promise<ArtifactRef | null> {
      return manifestOfRun(client, input.workflowId);
    },

    /** What became of a child an earlier attempt of the batch started under this id. */
    async childRunOutcome(input: { workflowId: string }): Promise<ClosedRun> {
      return outcomeOfRun(client, input.workflowId);
    },

    async reportBatch(input: ReportBatchInput): Promise<BatchResult> {
      return reportBatch(store, input, (done) => heartbeat({ manifests: done }));
    },
  };
}

export type BatchActivities = ReturnType<typeof createBatchActivities>;
