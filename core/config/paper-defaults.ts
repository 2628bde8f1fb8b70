// Every number the paper (FM-CGM, arXiv 2605.23861) or its reference code fixes, named once.
// Sources: the paper text (seeds/000_b34899b53c365eb4.txt), docs/algorithm.md (§0.2 paper settings
// and §4 baselines), the paper's Table 1. Change a value only with a citation.

export const PAPER_DEFAULTS = {
  /** LEDITS++ edit-friendly DPM-Solver++ inversion steps N (docs/algorithm.md §0.2). */
  inversionSteps: 100,
  /** Fraction of the grid skipped at the noisy end: T = trunc(N·(1+skip)) (ibid. §1.3). */
  skip: 0.15,
  /** Guidance on the source prompt during inversion (ibid., paper settings). */
  sourceGuidanceScale: 3.5,
  /** Per-concept semantic guidance scale (ibid., paper settings). */
  editGuidanceScale: 8.0,
  /** Quantile for the attention and noise masks (ibid. §2.6–2.7). */
  editThreshold: 0.7,
  /** Denoising steps before a concept's guidance switches on (ibid., paper settings). */
  editWarmupSteps: 10,
  /** M1 ⊙ M2 masks (use_intersect_mask=True; ibid. §2.7). */
  useIntersectMask: true,
  /** Concept/DAG extraction temperature (paper §4: "a temperature of 0.1"). */
  extractorTemperature: 0.1,
  /** Intervention proposal temperature (paper §4: "at a temperature of 0.2"). */
  manipulatorTemperature: 0.2,
  /** Extraction output budget (paper §4: "a budget of 2,048 tokens"). */
  extractorMaxTokens: 2048,
  /** Intervention output budget (paper §4: "a limit of 3,072 output tokens"). */
  manipulatorMaxTokens: 3072,
  /** Interventions proposed per image (paper §4: "proposes three diverse causal interventions"). */
  interventionsPerImage: 3,
  /** Images sampled per data set, CelebA-HQ and MS-COCO (paper §4 and Table 1). */
  imagesPerDataset: 75,
} as const;

/**
 * Settings of the DDPM and DDIM inversion baselines as named presets (docs/algorithm.md §4). The paper
 * says only "classifier-free guidance with the fully specified prompt", so each preset states where its
 * numbers come from. A batch or run picks one (`--baselines`); the report's header names it.
 *
 * - `paper` (default): what the paper most plausibly ran. Its one stated inversion budget (100 steps,
 *   skip 0.15, source guidance 3.5) is shared with CSG, as a like-for-like comparison needs; where the
 *   paper is silent (the target CFG scale, the zero-noise tail), the values of the "DDPM Inversion"
 *   method's own repository (inbarhub/DDPM_inversion): cfg_tar 15, only the last step's z zeroed.
 * - `ef-ddpm`: that repository's defaults throughout: a 100-step grid with its first 36 steps skipped
 *   (64 steps run: numSteps 64 with skip 36/64, so T = trunc(64·1.5625) = 100), cfg_src 3.5, cfg_tar 15,
 *   the last z zeroed.
 */
export const BASELINE_PRESETS = {
  paper: { numSteps: 100, skip: 0.15, cfgSource: 3.5, cfgTarget: 15, numZeroNoiseSteps: 1 },
  'ef-ddpm': { numSteps: 64, skip: 36 / 64, cfgSource: 3.5, cfgTarget: 15, numZeroNoiseSteps: 1 },
} as const;
export type BaselinePreset = keyof typeof BASELINE_PRESETS;
export const BASELINE_PRESET_NAMES = Object.keys(BASELINE_PRESETS) as BaselinePreset[];

/**
 * The baselines' preset named by a run's engine settings (`engine.baselines.preset`, default 'paper'),
 * and the fields set explicitly over it: what a report states about its DDPM/DDIM rows.
 */
export function baselineSettingsOf(engine: Record<string, unknown> | undefined): string {
  const b = engine?.baselines;
  const given =
    b !== null && typeof b === 'object' && !Array.isArray(b) ? (b as Record<string, unknown>) : {};
  const preset = typeof given.preset === 'string' ? given.preset : 'paper';
  const values: Record<string, unknown> = {
    ...(BASELINE_PRESETS as Record<string, object>)[preset],
    ...Object.fromEntries(Object.entries(given).filter(([k]) => k !== 'preset')),
  };
  const shown = Object.entries(values)
    .map(([k, v]) => `${k} ${typeof v === 'number' && !Number.isInteger(v) ? +v.toFixed(4) : String(v)}`)
    .join(', ');
  const overridden = Object.keys(given).filter((k) => k !== 'preset');
  return (
    `preset \`${preset}\` (${shown}` +
    `${overridden.length > 0 ? `; set over the preset: ${overridden.join(', ')}` : ''})`
  );
}
