// The narrow face of the diffusion engine the GPU activities use, and its real implementation over an
// EngineHost worker thread (gpu-worker/engine). Tests may pass another GpuEngine (e.g. one that hangs
// to play a lost host) without touching the activities.

import { moduleUrl } from '../../core/runtime/module-url.js';
import type { ModelInfo } from '../../core/schemas/workflow-io.js';
import { EngineHost, type RunOptions } from '../engine/engine-host.js';
import type {
  EditPayload,
  EditResultMessage,
  InvertPayload,
  InvertResult,
  LoadResult,
  LpipsPayload,
} from '../engine/engine-jobs.js';
import type { Device } from '../engine/onnx-graph.js';

export interface GpuEngine {
  readonly model: ModelInfo;
  invert(payload: InvertPayload, options: RunOptions): Promise<InvertResult>;
  edit(payload: EditPayload, options: RunOptions): Promise<EditResultMessage>;
  /** The engine's in-memory inversion as bytes (inversion-state.ts envelope). */
  exportInversion(key: string): Promise<Uint8Array>;
  /** Loads exported bytes; returns the engine's key for them. */
  importInversion(bytes: Uint8Array): Promise<string>;
  /** LPIPS-VGG of each image against the reference (all PNGs of one size); absent without a graph. */
  lpips?(
    reference: Uint8Array,
    images: Uint8Array[],
    size: { width: number; height: number },
  ): Promise<number[]>;
  close(): Promise<void>;
}

export interface StartEngineOptions {
  modelDir: string;
  device: Device;
  allowCpuFallback?: boolean;
  threads?: number;
  /** LPIPS graph folder (cgm-lpips.json); without it outputs carry no LPIPS. */
  lpipsDir?: string;
  log?: (line: string) => void;
}

const ENTRY = moduleUrl('../engine/engine-thread.ts', import.meta.url);

/** Starts the engine thread and loads the model bundle (once per GPU worker process). */
export async function startEngine(options: StartEngineOptions): Promise<GpuEngine & { loaded: LoadResult }> {
  const host = await EngineHost.start(ENTRY);
  let loaded: LoadResult;
  try {
    loaded = await host.run<LoadResult>('load', {
      modelDir: options.modelDir,
      device: options.device,
      allowCpuFallback: options.allowCpuFallback,
      threads: options.threads,
      lpipsDir: options.lpipsDir,
    });
  } catch (err) {
    await host.close();
    throw err;
  }
  for (const w of loaded.warnings) options.log?.(`engine warning: ${w}`);
  return {
    loaded,
    model: { name: loaded.name, manifestHash: loaded.manifestHash },
    invert: (payload, opts) => host.run<InvertResult>('invert', payload, opts),
    edit: (payload, opts) => host.run<EditResultMessage>('edit', payload, opts),
    exportInversion: (key) => host.run<Uint8Array>('exportInversion', { key }),
    importInversion: async (bytes) => (await host.run<{ key: string }>('importInversion', { bytes })).key,
    // LPIPS runs an ONNX session too, so it belongs in the engine thread, off the heartbeating one.
    lpips: options.lpipsDir
      ? (reference, images, size) =>
          host.run<number[]>('lpips', { reference, images, size } satisfies LpipsPayload)
      : undefined,
    close: () => host.close(),
  };
}
