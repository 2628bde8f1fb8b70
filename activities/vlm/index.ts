// The VLM activities of the light worker (docs/architecture.md §3): describe, extract, propose, propagate,
// judge. Inputs carry ArtifactRefs (claim-check); the factory takes the store and the settings, so
// the worker wires config and tests pass a local server.
import { Context } from '@temporalio/activity';
import type OpenAI from 'openai';
import { ArtifactIntegrityError, ArtifactNotFoundError } from '../../core/artifacts/errors.js';
import type { ArtifactStore } from '../../core/artifacts/store.js';
import type { ArtifactRef } from '../../core/schemas/artifact.js';
import {
  createVlmTransport,
  resolveVlmSettings,
  type VlmSettingsInput,
  type VlmTransport,
} from './client.js';
import type { VlmContext } from './context.js';
import { type DescribeSceneResult, describeScene } from './describe-scene.js';
import {
  type ExtractConceptsInput,
  type ExtractConceptsResult,
  extractConcepts,
} from './extract-concepts.js';
import { invalidInput } from './failures.js';
import type { ImageInput } from './image-input.js';
import type { InterventionCheckOptions } from './intervention-checks.js';
import { type JudgeInput, type JudgeResult, judgeCounterfactual } from './judge.js';
import {
  type PropagateInterventionInput,
  type PropagateInterventionResult,
  propagateIntervention,
} from './propagate-intervention.js';
import {
  type ProposeInterventionsInput,
  type ProposeInterventionsResult,
  proposeInterventions,
} from './propose-interventions.js';

export * from './client.js';
export type { VlmContext } from './context.js';
export * from './describe-scene.js';
export * from './extract-concepts.js';
export * from './failures.js';
export * from './image-input.js';
export * from './intervention-checks.js';
export * from './json-answer.js';
export * from './judge.js';
export * from './propagate-intervention.js';
export * from './propose-interventions.js';
export * from './validated-call.js';

/** Activity inputs: the functions' inputs with the image as an artifact reference. */
type WithRef<T> = Omit<T, 'image'> & { image: ArtifactRef };

export interface VlmActivitiesDeps {
  settings: VlmSettingsInput;
  store: Pick<ArtifactStore, 'get' | 'presignGet'>;
  /** A preconfigured `openai` client (else one is made from settings, with maxRetries 0). */
  openai?: OpenAI;
  interventionChecks?: Omit<InterventionCheckOptions, 'extra'>;
  now?: () => number;
}

export function createVlmActivities(deps: VlmActivitiesDeps) {
  const settings = resolveVlmSettings(deps.settings);
  const transport: VlmTransport = createVlmTransport(settings, deps.openai);

  const ctx = (): VlmContext => ({ transport, signal: activitySignal(), now: deps.now });

  async function image(ref: ArtifactRef): Promise<ImageInput> {
    const name = `image s3://${ref.bucket}/${ref.key}`;
    if (settings.imageTransport === 'presigned-url') return { url: await deps.store.presignGet(ref), name };
    try {
      return { bytes: await deps.store.get(ref), name };
    } catch (err) {
      // A missing or corrupt input will not heal on retry; a store outage will.
      if (err instanceof ArtifactNotFoundError || err instanceof ArtifactIntegrityError)
        throw invalidInput(err.message);
      throw err;
    }
  }

  return {
    async describeScene(input: { image: ArtifactRef }): Promise<DescribeSceneResult> {
      return describeScene(ctx(), { image: await image(input.image) });
    },
    async extractConcepts(input: WithRef<ExtractConceptsInput>): Promise<ExtractConceptsResult> {
      return extractConcepts(ctx(), { ...input, image: await image(input.image) });
    },
    async proposeInterventions(
      input: WithRef<ProposeInterventionsInput>,
    ): Promise<ProposeInterventionsResult> {
      return proposeInterventions(
        ctx(),
        { ...input, image: await image(input.image) },
        deps.interventionChecks,
      );
    },
    async propagateIntervention(
      input: WithRef<PropagateInterventionInput>,
    ): Promise<PropagateInterventionResult> {
      return propagateIntervention(
        ctx(),
        { ...input, image: await image(input.image) },
        deps.interventionChecks,
      );
    },
    async judgeCounterfactual(input: WithRef<JudgeInput>): Promise<JudgeResult> {
      return judgeCounterfactual(ctx(), { ...input, image: await image(input.image) });
    },
  };
}

export type VlmActivities = ReturnType<typeof createVlmActivities>;

/** Temporal's cancellation signal inside an activity; undefined elsewhere (CLI, tests). */
function activitySignal(): AbortSignal | undefined {
  try {
    return Context.current().cancellationSignal;
  } catch {
    return undefined;
  }
}
