// The OpenAPI `responses` entries of error statuses: every one is the {error: {code, message, field}} body.
import { ErrorSchema } from '../schemas.js';

export const errorResponses = (...codes: number[]) =>
  Object.fromEntries(
    codes.map((s) => [s, { description: 'error', content: { 'application/json': { schema: ErrorSchema } } }]),
  );
