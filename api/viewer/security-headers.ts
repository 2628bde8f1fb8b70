// Headers of every viewer response. The pages hold no inline script or style, so the Content-Security-
// Policy can be strict: scripts, styles and fetches from this origin only; images also from the artifact
// store's origin (presigned URLs) and blob: (the start page's preview of the chosen file).

export interface ViewerCspOptions {
  /** Origin of presigned artifact URLs, e.g. http://127.0.0.1:8333; null when unknown. */
  imageOrigin: string | null;
}

export function viewerCsp({ imageOrigin }: ViewerCspOptions): string {
  const img = ["'self'", 'blob:', ...(imageOrigin ? [imageOrigin] : [])].join(' ');
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    `img-src ${img}`,
    "connect-src 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

export function viewerHeaders(options: ViewerCspOptions): Record<string, string> {
  return {
    'Content-Security-Policy': viewerCsp(options),
    'X-Content-Type-Options': 'nosniff',
    // Run ids and presigned URLs must not leak to other sites through Referer.
    'Referrer-Policy': 'no-referrer',
    'Cross-Origin-Opener-Policy': 'same-origin',
  };
}

/**
 * The origin presigned GETs point at, found by presigning a probe key: S3 presigning is a local
 * computation, so this needs no network and follows path- or virtual-host-style addressing by itself.
 */
export function originOf(url: string): string | null {
  try {
    const origin = new URL(url).origin;
    return origin === 'null' ? null : origin; // non-web schemes (memory://) have no origin
  } catch {
    return null;
  }
}
