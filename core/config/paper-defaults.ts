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

/** Baseline CFG scales: not stated in the paper, so the official EF-DDPM defaults (docs/algorithm.md §4). */
export const BASELINE_DEFAULTS = {
  /** Target-prompt CFG scale of the DDPM/DDIM-inversion baselines (inbarhub/DDPM_inversion cfg_tar). */
  cfgTarget: 15,
  /** Source-prompt CFG scale during baseline inversion (inbarhub/DDPM_inversion cfg_src). */
  cfgSource: 3.5,
} as const;
