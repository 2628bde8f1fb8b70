// Modules started by path rather than imported (the workflow bundle, the engine thread) exist as
// TypeScript sources in a checkout (run through tsx) and as compiled JavaScript in the images
// (`npm run build`, laid over the sources): name them with the caller's own extension.

/** URL of the module `path` (written with .ts, relative to `callerUrl`), as .ts or .js like the caller. */
export function moduleUrl(path: string, callerUrl: string): URL {
  const ext = new URL(callerUrl).pathname.endsWith('.ts') ? '.ts' : '.js';
  return new URL(path.replace(/\.ts$/, ext), callerUrl);
}
