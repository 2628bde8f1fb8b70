// What a run knows about itself while it runs: the manifest it is building (stages with their times and
// notes, the VLM's attempts, plans, outputs) and what the progress query answers (phase, pinned host,
// judged count, last message). Workflow code: time is workflow time, so every record replays.
import { log } from '@temporalio/workflow';
import { RUN_STAGES } from '../core/constants.js';
import type { ArtifactRef } from '../core/schemas/artifact.js';
import type { EditMethod } from '../core/schemas/edit-plan.js';
import type { RunManifest, RunStage, StageStatus, VlmAttempt } from '../core/schemas/run-manifest.js';
import type { CounterfactualInput, HostPolicy, RunPhase, RunProgress } from '../core/schemas/workflow-io.js';
import { attemptsOf } from './run-activities.js';

export class RunRecord {
  readonly manifest: RunManifest;
  phase: RunPhase = 'starting';
  hostQueue: string | null = null;
  manifestRef: ArtifactRef | null = null;
  judged = 0;
  message: string | undefined;
  private readonly judge: boolean;

  constructor(
    readonly runId: string,
    workflowId: string,
    input: CounterfactualInput,
    settings: { methods: EditMethod[]; hosts: HostPolicy; judge: boolean },
  ) {
    this.judge = settings.judge;
    this.manifest = {
      schemaVersion: 1,
      runId,
      workflowId,
      createdAt: nowIso(),
      updatedAt: nowIso(),
      input: { image: input.image, caption: input.caption ?? null },
      basePrompt: null,
      graph: null,
      interventions: [],
      plans: [],
      inversions: [],
      outputs: [],
      vlmAttempts: [],
      stages: {},
      settings: {
        methods: settings.methods,
        planning: input.planning ?? {},
        engine: input.engine ?? {},
        hosts: settings.hosts,
        evaluate: { judge: settings.judge },
        proposeCount: input.proposeCount ?? null,
      },
      versions: { workflow: 'counterfactual/1' },
      hosts: [],
    };
  }

  progress(): RunProgress {
    const m = this.manifest;
    return {
      runId: this.runId,
      phase: this.phase,
      stages: m.stages,
      outputs: { done: m.outputs.length, total: m.plans.length },
      judged: { done: this.judged, total: this.judge ? m.plans.length : 0 },
      hostQueue: this.hostQueue,
      hosts: m.hosts ?? [],
      manifest: this.manifestRef,
      message: this.message,
    };
  }

  setStage(stage: RunStage, status: StageStatus['status'], note?: string): void {
    const prev = this.manifest.stages[stage];
    const at = nowIso();
    this.manifest.stages[stage] = {
      status,
      startedAt: status === 'running' ? at : (prev?.startedAt ?? (status === 'skipped' ? undefined : at)),
      finishedAt: status === 'running' || status === 'pending' ? undefined : at,
      message: note,
    };
    if (status === 'running') this.phase = stage;
    // Workflow log lines carry workflowId and runId (the SDK's); not written again on replay.
    log.info(`stage ${stage} ${status}`, { stage, status, ...(note === undefined ? {} : { note }) });
  }

  skip(stage: RunStage, why: string): void {
    this.setStage(stage, 'skipped', why);
  }

  /** Runs one VLM stage, keeping the attempts of the call whether it succeeds or fails. */
  async vlmStage<T extends { attempts: VlmAttempt[] }>(stage: RunStage, call: () => Promise<T>): Promise<T> {
    this.setStage(stage, 'running');
    try {
      const r = await call();
      this.manifest.vlmAttempts.push(...r.attempts);
      this.setStage(stage, 'succeeded');
      return r;
    } catch (err) {
      this.manifest.vlmAttempts.push(...attemptsOf(err));
      throw err;
    }
  }

  /** After a failure or cancellation: the running stage ends with it, the stages not reached say so. */
  endStages(cancelled: boolean, note: string): void {
    for (const stage of RUN_STAGES.slice(0, RUN_STAGES.indexOf('manifest'))) {
      const s = this.manifest.stages[stage];
      if (s?.status === 'running') this.setStage(stage, cancelled ? 'cancelled' : 'failed', note);
      else if (!s)
        this.setStage(
          stage,
          cancelled ? 'cancelled' : 'skipped',
          cancelled ? 'not reached: cancelled' : 'not reached: an earlier stage failed',
        );
    }
  }
}

/** Workflow time (replay-safe). */
export const nowIso = () => new Date().toISOString();
