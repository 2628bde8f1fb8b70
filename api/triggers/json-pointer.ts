// RFC 6901 JSON pointers: `/a/b/0` reads doc.a.b[0]; `~1` is '/', `~0` is '~'.

/** The value at `pointer`, or undefined when any step is missing. */
export function resolvePointer(doc: unknown, pointer: string): unknown {
  if (pointer === '') return doc;
  let at: unknown = doc;
  for (const raw of pointer.slice(1).split('/')) {
    const step = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(at)) {
      if (!/^(0|[1-9]\d*)$/.test(step)) return undefined;
      at = at[Number(step)];
    } else if (at !== null && typeof at === 'object' && Object.hasOwn(at, step)) {
      at = (at as Record<string, unknown>)[step];
    } else return undefined;
  }
  return at;
}
