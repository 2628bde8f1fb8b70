// Checks many items against storage a few at a time, in list order: each chunk runs concurrently, and
// the first failure in list order (not in time) is thrown, so an error names the earliest bad line.
export async function mapInChunks<T, R>(
  items: readonly T[],
  chunkSize: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  for (let start = 0; start < items.length; start += chunkSize) {
    const chunk = items.slice(start, start + chunkSize);
    const settled = await Promise.allSettled(chunk.map((item, k) => fn(item, start + k)));
    for (const [k, s] of settled.entries()) {
      if (s.status === 'rejected') throw s.reason;
      results[start + k] = s.value;
    }
  }
  return results;
}
