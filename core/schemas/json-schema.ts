// JSON Schema from zod schemas, in the shape OpenAI-compatible `response_format: json_schema`
// (strict mode) accepts: every object closed, every property required.
import { z } from 'zod';

export type JsonSchema = Record<string, unknown>;

export function toJsonSchema(schema: z.ZodType): JsonSchema {
  const out = z.toJSONSchema(schema, {
    target: 'draft-7',
    io: 'output',
    unrepresentable: 'any',
  }) as JsonSchema;
  delete out.$schema;
  return closeObjects(out) as JsonSchema;
}

/** Walks the schema: objects get `additionalProperties: false` unless they are records. */
function closeObjects(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(closeObjects);
  if (node === null || typeof node !== 'object') return node;
  const obj: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) obj[k] = closeObjects(v);
  if (obj.type === 'object' && obj.properties && obj.additionalProperties === undefined) {
    obj.additionalProperties = false;
  }
  return obj;
}

/** The `response_format` body for structured output from a named schema. */
export function responseFormatFor(name: string, schema: z.ZodType) {
  return {
    type: 'json_schema' as const,
    json_schema: { name, schema: toJsonSchema(schema), strict: true },
  };
}
