// @ts-check
// Numbers as the pages show them. Pure, so the unit tests import it as is.

/** @param {number | null | undefined} x @param {number} [digits] */
export function fmtNumber(x, digits = 3) {
  return typeof x === 'number' && Number.isFinite(x) ? x.toFixed(digits) : '—';
}

/**
 * An output's NFE: whole numbers as they are, a share of a batched edit call (e.g. 26.666… of a call
 * made for three outputs) to two decimals. @param {number | null | undefined} x
 */
export function fmtNfe(x) {
  if (typeof x !== 'number' || !Number.isFinite(x)) return '—';
  return Number.isInteger(x) ? String(x) : String(Number(x.toFixed(2)));
}

/** "0.620 [0.550, 0.700]", or "—" when there is nothing to average. @param {{ mean: number | null, lo: number | null, hi: number | null } | null | undefined} e */
export function fmtEstimate(e, digits = 3) {
  if (!e || e.mean === null) return '—';
  const ci =
    e.lo !== null && e.hi !== null ? ` [${fmtNumber(e.lo, digits)}, ${fmtNumber(e.hi, digits)}]` : '';
  return `${fmtNumber(e.mean, digits)}${ci}`;
}

/** "7/9 (0.778)". @param {{ yes: number, total: number, rate: number | null } | null | undefined} r */
export function fmtRate(r) {
  if (!r || r.total === 0) return '—';
  return `${r.yes}/${r.total} (${fmtNumber(r.rate)})`;
}

/** Share of finished work in [0, 1]. @param {{ done: number, total: number } | null | undefined} c */
export function fraction(c) {
  return c && c.total > 0 ? Math.min(1, Math.max(0, c.done / c.total)) : 0;
}

const BASE_LABELS = /** @type {Record<string, string>} */ ({
  csg: 'CSG',
  ddpm: 'DDPM inversion',
  ddim: 'DDIM inversion',
});

/** 'csg+protect' → 'CSG +protect' (ablations keep their tags, as in core/eval/report.ts). @param {string} method */
export function methodLabel(method) {
  const [base, ...tags] = method.split('+');
  return [BASE_LABELS[base] ?? base, ...tags.map((t) => `+${t}`)].join(' ');
}
