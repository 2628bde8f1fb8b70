// Requests generated from an OpenAPI 3.0 document's own schemas with fast-check, as a schema-driven
// fuzzer (schemathesis) would: objects with their required properties and a random choice of the
// optional ones, strings from their pattern, enum or length bounds, numbers within their bounds.
// Object-level `not`, `anyOf` and `oneOf` of `required` lists and property enums (how the document
// states mutually exclusive and dependent fields) are honoured by filtering. `overrides` replaces a named component
// (e.g. an image named by the hash of a real upload, as a stateful fuzzer would follow the upload).
import fc from 'fast-check';

// JSON Schema is navigated freely here.
// biome-ignore lint/suspicious/noExplicitAny: see above
type Schema = any;

export interface ArbitraryOptions {
  overrides?: Record<string, fc.Arbitrary<unknown>>;
  /** Longest generated array (documents allow hundreds; a few exercise the same rules). */
  maxItems?: number;
}

export function arbitraryFor(
  doc: Schema,
  schema: Schema,
  options: ArbitraryOptions = {},
): fc.Arbitrary<unknown> {
  const maxItems = options.maxItems ?? 3;
  const cache = new Map<string, fc.Arbitrary<unknown>>();

  const of = (s: Schema): fc.Arbitrary<unknown> => {
    if (s.$ref) {
      const name = String(s.$ref).split('/').at(-1)!;
      if (options.overrides?.[name]) return options.overrides[name];
      if (!cache.has(name)) cache.set(name, of(doc.components.schemas[name]));
      return cache.get(name)!;
    }
    if (s.allOf) return of(s.allOf.find((x: Schema) => x.$ref || x.type) ?? {});
    const base = typeOf(s);
    return s.nullable ? fc.oneof(base, fc.constant(null)) : base;
  };

  const typeOf = (s: Schema): fc.Arbitrary<unknown> => {
    if (s.enum) return fc.constantFrom(...s.enum);
    if ((s.anyOf || s.oneOf) && !s.type && !s.properties) return fc.oneof(...(s.anyOf ?? s.oneOf).map(of));
    switch (s.type) {
      case 'string':
        return stringOf(s);
      case 'integer':
      case 'number':
        return numberOf(s);
      case 'boolean':
        return fc.boolean();
      case 'array': {
        const bounds = {
          minLength: s.minItems ?? 0,
          maxLength: Math.max(s.minItems ?? 0, Math.min(s.maxItems ?? maxItems, maxItems)),
        };
        return s.uniqueItems
          ? fc.uniqueArray(of(s.items ?? {}), { ...bounds, selector: (x) => JSON.stringify(x) })
          : fc.array(of(s.items ?? {}), bounds);
      }
      case 'object':
        return objectOf(s);
      default:
        return fc.constant({});
    }
  };

  const stringOf = (s: Schema): fc.Arbitrary<string> => {
    const fits = (x: string) => x.length >= (s.minLength ?? 0) && x.length <= (s.maxLength ?? Infinity);
    if (s.pattern) return fc.stringMatching(new RegExp(s.pattern)).filter(fits);
    if (s.format === 'uri') return fc.webUrl().filter((u) => u.length <= (s.maxLength ?? 2048));
    return fc
      .string({ minLength: s.minLength ?? 0, maxLength: Math.min(s.maxLength ?? 40, 40) })
      .filter((x) => x.length >= (s.minLength ?? 0));
  };

  const numberOf = (s: Schema): fc.Arbitrary<number> => {
    const min = s.minimum ?? -1e6;
    const max = s.maximum ?? 1e6;
    const above = (x: number) => !(s.exclusiveMinimum === true && x <= min);
    if (s.type === 'integer')
      return fc.integer({ min: Math.ceil(min), max: Math.floor(Math.min(max, 2 ** 31)) }).filter(above);
    return fc.double({ min, max, noNaN: true, noDefaultInfinity: true }).filter(above);
  };

  const objectOf = (s: Schema): fc.Arbitrary<unknown> => {
    const props = (s.properties ?? {}) as Record<string, Schema>;
    const required = new Set<string>(s.required ?? []);
    let arb: fc.Arbitrary<Record<string, unknown>> = fc.record(
      Object.fromEntries(Object.entries(props).map(([k, v]) => [k, of(v)])),
      { requiredKeys: [...required] },
    );
    if (Object.keys(props).length === 0 && s.additionalProperties && s.additionalProperties !== true)
      arb = fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), of(s.additionalProperties), {
        maxKeys: 3,
      });
    return arb.filter((o) => objectRulesHold(s, o));
  };

  return of(schema);
}

/** The object-level rules of `required` lists: `not`, `anyOf`, `oneOf`. */
export function objectRulesHold(s: Schema, o: Record<string, unknown>): boolean {
  const has = (r: Schema): boolean => {
    if (r.required && !(r.required as string[]).every((k) => k in o)) return false;
    if (r.not && has(r.not)) return false;
    for (const [k, p] of Object.entries((r.properties ?? {}) as Record<string, Schema>))
      if (k in o && p.enum && !p.enum.includes(o[k])) return false;
    return true;
  };
  if (s.not && has(s.not)) return false;
  if (s.anyOf && s.properties && !s.anyOf.some(has)) return false;
  if (s.oneOf && s.properties && s.oneOf.filter(has).length !== 1) return false;
  if (s.allOf && s.properties && !s.allOf.every(has)) return false;
  return true;
}
