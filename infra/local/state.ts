// The services state file: what `up` started, so `down`/`status` act on exactly those processes.
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { ProcessRecordSchema } from './processes.js';

export const STATE_FILE = 'services.json';

export const ServiceEndpointsSchema = z.object({
  temporal: z.object({ address: z.string(), namespace: z.string() }),
  s3: z.object({
    endpoint: z.string(),
    region: z.string(),
    bucket: z.string(),
    accessKeyId: z.string(),
    secretAccessKey: z.string(),
    forcePathStyle: z.literal(true),
  }),
});
/** Where tests and workers reach the local stack. */
export type ServiceEndpoints = z.infer<typeof ServiceEndpointsSchema>;

export const ServicesStateSchema = z.object({
  version: z.literal(1),
  stateDir: z.string(),
  startedAt: z.string(),
  endpoints: ServiceEndpointsSchema,
  ports: z.record(z.string(), z.number().int()),
  processes: z.object({ temporal: ProcessRecordSchema, seaweedfs: ProcessRecordSchema }),
  /** Measured time from spawn until each service answered a real request. */
  startupMs: z.object({ temporal: z.number(), seaweedfs: z.number() }),
});
export type ServicesState = z.infer<typeof ServicesStateSchema>;

export class StateFileError extends Error {
  constructor(
    readonly path: string,
    detail: string,
  ) {
    super(
      `services state file ${path} is unreadable (${detail}); stop stray processes by hand and delete it`,
    );
    this.name = 'StateFileError';
  }
}

/** The state in `stateDir`, or null when there is none. A corrupt file is an error, not "none". */
export function readState(stateDir: string): ServicesState | null {
  const path = join(stateDir, STATE_FILE);
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new StateFileError(path, (err as Error).message);
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    throw new StateFileError(path, `not JSON: ${(err as Error).message}`);
  }
  const parsed = ServicesStateSchema.safeParse(json);
  if (!parsed.success) throw new StateFileError(path, z.prettifyError(parsed.error));
  return parsed.data;
}

/** Atomic write (temp file + rename) with 0600: the file holds the S3 secret. */
export function writeState(stateDir: string, state: ServicesState): void {
  mkdirSync(stateDir, { recursive: true });
  const path = join(stateDir, STATE_FILE);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(ServicesStateSchema.parse(state), null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}

export function removeState(stateDir: string): void {
  rmSync(join(stateDir, STATE_FILE), { force: true });
}
