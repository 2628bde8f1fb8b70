// A sub-app for a group of routes, mounted by createApp with app.route('/', …): uniform 400s, since a
// failed zod validation of any route becomes {error: {code, message, field}} (errors.ts fromZodError).
import { OpenAPIHono } from '@hono/zod-openapi';
import { fromZodError } from '../errors.js';
import type { AuthEnv } from '../middleware/auth.js';

export function routeApp(): OpenAPIHono<AuthEnv> {
  return new OpenAPIHono<AuthEnv>({
    defaultHook: (result) => {
      if (!result.success) throw fromZodError(result.error);
    },
  });
}
