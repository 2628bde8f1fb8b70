// The percentile rule of the report's bootstrap intervals.

/** Linear interpolation between order statistics at h = (n - 1) p (numpy 'linear', type 7). */
export function quantile(values: readonly number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  const h = (s.length - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, s.length - 1);
  return s[lo] + (h - lo) * (s[hi] - s[lo]);
}
