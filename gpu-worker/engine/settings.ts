// Engine settings: one zod schema, defaults from the paper (core/config/paper-defaults.ts) and the
// quirk register (docs/algorithm.md §7). Recorded in every summary so runs can be compared.
import { z } from 'zod';
import {
  BASELINE_PRESET_NAMES,
  BASELINE_PRESETS,
  type BaselinePreset,
  PAPER_DEFAULTS,
} from '../../core/config/paper-defaults.js';

/** SDXL pipeline default num_zero_noise_steps (docs/algorithm.md §1.7, quirk Q4). */
export const SDXL_NUM_ZERO_NOISE_STEPS = 3;

const steps = z.number().int().min(1).max(1000);
const skip = z.number().min(0).max(1);

export const InversionSettingsSchema = z.object({
  numSteps: steps.default(PAPER_DEFAULTS.inversionSteps),
  skip: skip.default(PAPER_DEFAULTS.skip),
  /** w_src for the source prompt (must be > 1, or 1 to invert unconditionally; docs/algorithm.md §1.4). */
  sourceGuidanceScale: z.number().min(1).default(PAPER_DEFAULTS.sourceGuidanceScale),
  numZeroNoiseSteps: z.number().int().min(0).default(SDXL_NUM_ZERO_NOISE_STEPS),
});

export const EditSettingsSchema = z.object({
  /** Per-concept defaults handed to planEdits (paper "Implementation"). */
  scale: z.number().positive().default(PAPER_DEFAULTS.editGuidanceScale),
  threshold: z.number().min(0).max(1).default(PAPER_DEFAULTS.editThreshold),
  warmup: z.number().int().min(0).default(PAPER_DEFAULTS.editWarmupSteps),
  maskMode: z.enum(['intersect', 'attention', 'noise']).default('intersect'),
  /** Quirk Q8: 'trimmed' skips inactive concepts' batch entries (same outputs, fewer evaluations). */
  batching: z.enum(['trimmed', 'faithful']).default('trimmed'),
  /**
   * Quirk Q5: 'words' = the concept's BPE tokens (intended); 'padded75' = tokens 1..75, what the pinned
   * diffusers/transformers sum. Unset: the mode's (faithful 'padded75', fixed 'words'); see engineSettings.
   */
  spanMode: z.enum(['words', 'padded75']).optional(),
});

/**
 * The baselines' settings: a named preset (core/config/paper-defaults.ts BASELINE_PRESETS, default
 * 'paper'), each field of which an explicit value overrides. Parsed settings always carry every field.
 */
export const BaselineSettingsSchema = z.object({
  preset: z.enum(BASELINE_PRESET_NAMES as [BaselinePreset, ...BaselinePreset[]]).default('paper'),
  /** CFG scale on generation_prompt while sampling. */
  cfgTarget: z.number().min(1).optional(),
  /** Source-prompt CFG during baseline inversion. */
  cfgSource: z.number().min(1).optional(),
  numSteps: steps.optional(),
  skip: skip.optional(),
  /** Zero-noise tail of the DDPM inversion (docs/algorithm.md §4.2). */
  numZeroNoiseSteps: z.number().int().min(0).optional(),
});

const EngineSettingsObject = z.object({
  /** 'faithful' matches diffusers (quirks kept); 'fixed' applies the evident intent (docs/algorithm.md §7). */
  mode: z.enum(['faithful', 'fixed']).default('faithful'),
  /** Seed of the forward-diffusion noises of edit-friendly inversion (not torch-compatible). */
  seed: z.number().int().min(0).max(0xffffffff).default(0),
  inversion: InversionSettingsSchema.prefault({}),
  edit: EditSettingsSchema.prefault({}),
  baselines: BaselineSettingsSchema.prefault({}),
});

/**
 * The mode's token span and the preset's baseline values where none is set, so every recorded settings
 * object names what the run used.
 */
export const EngineSettingsSchema = EngineSettingsObject.transform((s) => ({
  ...s,
  edit: { ...s.edit, spanMode: s.edit.spanMode ?? (s.mode === 'faithful' ? 'padded75' : 'words') },
  baselines: { ...BASELINE_PRESETS[s.baselines.preset], ...definedOnly(s.baselines) },
}));

function definedOnly<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
export type EngineSettings = z.infer<typeof EngineSettingsSchema>;
export type EngineSettingsInput = z.input<typeof EngineSettingsSchema>;

export function engineSettings(input: EngineSettingsInput = {}): EngineSettings {
  return EngineSettingsSchema.parse(input);
}

/**
 * What an inversion depends on besides the image and the model: the cache key of abduction. Edit
 * settings are excluded, so every intervention and edit variant of one image reuses one inversion.
 */
export function inversionKeySettings(s: EngineSettings) {
  return {
    mode: s.mode,
    seed: s.seed,
    inversion: s.inversion,
    baselines: {
      cfgSource: s.baselines.cfgSource,
      numSteps: s.baselines.numSteps,
      skip: s.baselines.skip,
      numZeroNoiseSteps: s.baselines.numZeroNoiseSteps,
    },
  };
}
