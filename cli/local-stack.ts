// The local stack (Temporal dev server + SeaweedFS) as the CLI starts it from the configuration and
// points other processes at it (cgm services, cgm dev, the demos).
import { isAbsolute, join } from 'node:path';
import type { Config } from '../core/config/index.js';
import { REPO_ROOT, type ServicesOptions } from '../infra/local/services.js';
import type { ServicesState } from '../infra/local/state.js';

/** A path of the configuration, relative to the repository unless absolute. */
export const repoPath = (p: string): string => (isAbsolute(p) ? p : join(REPO_ROOT, p));

/** What `servicesUp` takes from the configuration; the caller adds the state folder and its choices. */
export function servicesConfig(config: Config) {
  return {
    binDir: repoPath(config.services.binDir),
    namespace: config.temporal.namespace,
    bucket: config.s3.bucket,
    region: config.s3.region,
    // The stack takes the configured credentials (if any), so workers with the same env connect.
    credentials:
      config.s3.accessKeyId && config.s3.secretAccessKey
        ? { accessKeyId: config.s3.accessKeyId, secretAccessKey: config.s3.secretAccessKey }
        : undefined,
    startTimeoutMs: config.services.startTimeoutMs,
  } satisfies Partial<ServicesOptions>;
}

/** The CGM_* variables that point a worker, the API or a command at the running stack. */
export function stackEnv(state: ServicesState): Record<string, string> {
  const { temporal, s3 } = state.endpoints;
  return {
    CGM_TEMPORAL_ADDRESS: temporal.address,
    CGM_TEMPORAL_NAMESPACE: temporal.namespace,
    CGM_S3_ENDPOINT: s3.endpoint,
    CGM_S3_REGION: s3.region,
    CGM_S3_BUCKET: s3.bucket,
    CGM_S3_ACCESS_KEY_ID: s3.accessKeyId,
    CGM_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
  };
}

/** `export NAME=value` lines, for a shell. */
export function exportLines(env: Record<string, string>): string[] {
  return Object.entries(env).map(([name, value]) => `export ${name}=${value}`);
}
