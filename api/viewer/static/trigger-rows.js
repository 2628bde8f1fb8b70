// @ts-check
// Table cells of the triggers page: a key's triggers, and the runs one trigger started (newest first,
// as the API answers them). Pure: no DOM, so the unit tests import it as is.

/**
 * @param {any[]} triggers GET /v1/triggers' `triggers`
 * @returns {{ head: string[], rows: { id: string, cells: string[] }[] }}
 */
export function triggerCells(triggers) {
  return {
    head: ['Trigger', 'Name', 'Source', 'Image from', 'State', 'Created'],
    rows: triggers.map((t) => ({
      id: t.id,
      cells: [
        t.id,
        t.name,
        t.source.kind,
        imageFrom(t),
        t.paused ? 'paused' : 'active',
        String(t.createdAt)
          .replace('T', ' ')
          .replace(/\.\d+Z$/, 'Z'),
      ],
    })),
  };
}

/** Where a trigger takes its image from, and what it allows, in one line. @param {any} t */
export function imageFrom(t) {
  const buckets = (t.allow?.buckets ?? []).map((/** @type {any} */ b) => `s3://${b.bucket}/${b.prefix}*`);
  const hosts = t.allow?.urlHosts ?? [];
  switch (t.image?.from) {
    case 'url':
      return `URL at ${t.image.pointer} (hosts ${hosts.join(', ')})`;
    case 's3':
      return `S3 at ${t.image.bucketPointer}, ${t.image.keyPointer} (${buckets.join(', ')})`;
    case 's3-record':
      return `S3 event records (${buckets.join(', ')})`;
    default:
      return '?';
  }
}

/**
 * @param {any[]} runs GET /v1/triggers/{id}/runs' `runs`
 * @returns {{ head: string[], rows: { id: string, cells: string[] }[] }}
 */
export function triggerRunCells(runs) {
  return {
    head: ['Run', 'Status', 'Started', 'Image', 'Delivery'],
    rows: runs.map((r) => ({
      id: r.id,
      cells: [
        r.id,
        r.status,
        r.createdAt ? String(r.createdAt).replace('T', ' ') : '-',
        r.source,
        r.deliveryId,
      ],
    })),
  };
}
