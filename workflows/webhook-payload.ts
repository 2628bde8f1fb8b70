// What a webhook may say about stored artifacts: their content hash, size and type, never the bucket or
// key (a receiver fetches them through the API, under its key's permissions). Pure, for workflow code.

type Json = unknown;

function isArtifactRef(v: Json): v is { bucket: string; key: string; sha256: string } {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as Record<string, unknown>).bucket === 'string' &&
    typeof (v as Record<string, unknown>).key === 'string' &&
    typeof (v as Record<string, unknown>).sha256 === 'string'
  );
}

/** A copy of `value` in which every artifact reference has lost its bucket and key. */
export function withoutLocation<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => withoutLocation(v)) as T;
  if (typeof value !== 'object' || value === null) return value;
  if (isArtifactRef(value)) {
    const { bucket: _bucket, key: _key, ...rest } = value as Record<string, unknown>;
    return rest as T;
  }
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, withoutLocation(v)]),
  ) as T;
}
