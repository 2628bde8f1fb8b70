// Timestep grids with skip (docs/algorithm.md §1.3, quirk Q1). All results are exact integers.

export class ScheduleConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScheduleConfigError';
  }
}

/** T = trunc(N·(1+skip)) in IEEE double, as diffusers does: 100·1.15 → 114 (Q1), 20·1.15 → 23. */
export function totalGridSteps(numInversionSteps: number, skip: number): number {
  if (!Number.isInteger(numInversionSteps) || numInversionSteps < 1) {
    throw new ScheduleConfigError(`numInversionSteps must be a positive integer, got ${numInversionSteps}`);
  }
  if (!(skip >= 0 && skip < 1)) throw new ScheduleConfigError(`skip must be in [0, 1), got ${skip}`);
  return Math.trunc(numInversionSteps * (1 + skip));
}

/** DPM-Solver "leading" grid (descending): r = 1000 // (T+1), t_j = (T−j)·r + 1. */
export function dpmLeadingGrid(totalSteps: number, trainSteps = 1000): Int32Array {
  const r = Math.floor(trainSteps / (totalSteps + 1));
  const grid = new Int32Array(totalSteps);
  for (let j = 0; j < totalSteps; j++) grid[j] = (totalSteps - j) * r + 1;
  return grid;
}

/** DDIM "leading" grid (descending): r = 1000 // T, t_j = (T−1−j)·r + 1. */
export function ddimLeadingGrid(totalSteps: number, trainSteps = 1000): Int32Array {
  const r = Math.floor(trainSteps / totalSteps);
  const grid = new Int32Array(totalSteps);
  for (let j = 0; j < totalSteps; j++) grid[j] = (totalSteps - 1 - j) * r + 1;
  return grid;
}

/** DDIM's step between neighbouring timesteps: 1000 // T. */
export function ddimStepRatio(totalSteps: number, trainSteps = 1000): number {
  return Math.floor(trainSteps / totalSteps);
}

/** The steps actually run: the last N of the grid; also the grid offset j0 = T − N. */
export function runTimesteps(
  grid: Int32Array,
  numInversionSteps: number,
): { timesteps: Int32Array; offset: number } {
  const offset = grid.length - numInversionSteps;
  if (offset < 0)
    throw new ScheduleConfigError(`grid of ${grid.length} is shorter than N=${numInversionSteps}`);
  return { timesteps: grid.slice(offset), offset };
}
