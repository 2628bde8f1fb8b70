// Seeded sampling for the evaluation (paper §6: "75 images per dataset using a fixed seed … without
// replacement over the full available split"). The paper names neither its PRNG nor its seed, so ours
// is fixed and written down here, precisely enough to reproduce in a few lines of Python.
//
// PRNG: mulberry32 (Tommy Ettinger's 32-bit generator), state a uint32, one uint32 per step:
//
//   def mulberry32(a):                          # a: the uint32 seed
//       M = 0xFFFFFFFF
//       while True:
//           a = (a + 0x6D2B79F5) & M
//           t = ((a ^ (a >> 15)) * (a | 1)) & M
//           t = ((t + (((t ^ (t >> 7)) * (t | 61)) & M)) & M) ^ t
//           yield (t ^ (t >> 14)) & M
//
// Seeds: an integer in [0, 2^32) is used as is; a string is hashed to a uint32 with 32-bit FNV-1a over
// its UTF-8 bytes (h = 0x811C9DC5; for each byte: h ^= byte; h = (h * 0x01000193) mod 2^32).
//
// Integer below m: floor(u * m / 2^32) for the next uint32 u, i.e. Python `(u * m) >> 32`; exact in
// doubles for m ≤ 2^21, which bounds the population size (COCO train2017 has 118,287 images).
//
// Sampling: sort the items by key (string order by UTF-16 code unit, which equals Python's str order
// for ids without astral characters; keys must be unique), then a partial Fisher–Yates shuffle:
//   for i in 0..k-1: j = i + below(n - i); swap(a[i], a[j]);   result = a[0..k)
// so the sample for k is a prefix of the sample for k + 1 (same seed), and its order is the draw order.

/** An integer in [0, 2^32) or a string (hashed with FNV-1a 32). */
export type Seed = number | string;

export const PRNG_NAME = 'mulberry32';
/** Largest population sampleWithoutReplacement accepts (exact integer arithmetic, see above). */
export const MAX_POPULATION = 2 ** 21;

/** 32-bit FNV-1a of the UTF-8 bytes of `text`. */
export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export function seedToUint32(seed: Seed): number {
  if (typeof seed === 'string') return fnv1a32(seed);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new RangeError(`seed: expected an integer in [0, 2^32) or a string (got ${seed})`);
  }
  return seed >>> 0;
}

export interface Prng {
  readonly name: typeof PRNG_NAME;
  /** The next uint32 of the stream. */
  nextUint32(): number;
  /** An integer in [0, m), m a positive integer ≤ MAX_POPULATION. */
  below(m: number): number;
  /** A float in [0, 1): nextUint32() / 2^32. */
  next(): number;
}

export function mulberry32(seed: Seed): Prng {
  let a = seedToUint32(seed);
  const nextUint32 = (): number => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t = (t + Math.imul(t ^ (t >>> 7), t | 61)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
  return {
    name: PRNG_NAME,
    nextUint32,
    next: () => nextUint32() / 2 ** 32,
    below(m: number): number {
      if (!Number.isInteger(m) || m < 1 || m > MAX_POPULATION) {
        throw new RangeError(`below: expected an integer in [1, ${MAX_POPULATION}] (got ${m})`);
      }
      return Math.floor((nextUint32() * m) / 2 ** 32);
    },
  };
}

/**
 * k items drawn without replacement (min(k, n) when k > n), in draw order. The result depends only on
 * the set of keys, the seed and k — not on the input order — so any machine with the same data gets
 * the same sample. Throws on duplicate keys, which would make the order ambiguous.
 */
export function sampleWithoutReplacement<T>(
  items: readonly T[],
  k: number,
  seed: Seed,
  key: (item: T) => string,
): T[] {
  if (!Number.isInteger(k) || k < 0) throw new RangeError(`k: expected a non-negative integer (got ${k})`);
  if (items.length > MAX_POPULATION) {
    throw new RangeError(`population of ${items.length} exceeds ${MAX_POPULATION} items`);
  }
  const keyed = items.map((item) => ({ item, key: key(item) }));
  keyed.sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
  for (let i = 1; i < keyed.length; i++) {
    if (keyed[i].key === keyed[i - 1].key) {
      throw new Error(`sampleWithoutReplacement: duplicate key '${keyed[i].key}'; keys must be unique`);
    }
  }
  const rng = mulberry32(seed);
  const n = keyed.length;
  const m = Math.min(k, n);
  for (let i = 0; i < m; i++) {
    const j = i + rng.below(n - i);
    const tmp = keyed[i];
    keyed[i] = keyed[j];
    keyed[j] = tmp;
  }
  return keyed.slice(0, m).map((x) => x.item);
}
