// Route schemas are written in zod and handed to Fastify (which validates with them) and OpenAPI as JSON Schema.
import { z } from 'zod';

/** A zod schema as the JSON Schema (draft 7) Fastify validates with and OpenAPI shows. */
export function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const converted = z.toJSONSchema(schema, { target: 'draft-7', io: 'input' }) as Record<string, unknown>;
  delete converted.$schema;
  return converted;
}
