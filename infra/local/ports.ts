// Free loopback ports for the local stack. SeaweedFS derives some gRPC ports as HTTP port + 10000
// in places that ignore the explicit flag (its plugin worker dials admin.port + 10000), so every
// SeaweedFS HTTP port is picked together with its +10000 partner and both must be free.
import { createServer } from 'node:net';

/** SeaweedFS' fixed offset between an HTTP port and its gRPC port. */
export const GRPC_PORT_OFFSET = 10_000;

/**
 * Ports are drawn from below the kernel's ephemeral range (32768+ on Linux), so neither a port nor
 * its +10000 partner can be taken by an outgoing connection or by a server that binds port 0
 * (Temporal's dev server picks its internal ports that way) between our check and the bind.
 */
export const PORT_RANGE = { min: 20_000, max: 22_700 } as const;

/** True when `port` can be bound on `host` right now. */
export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => {
      server.close(() => resolve(true));
    });
  });
}

export interface PickPortsOptions {
  /** How many ports. */
  count: number;
  /** Each picked port p also needs p + pairOffset free (and not picked). */
  pairOffset?: number;
  /** Ports that must not be returned (already chosen elsewhere). */
  exclude?: Iterable<number>;
  host?: string;
  /** Injected for tests; returns an integer in [min, max]. */
  random?: (min: number, max: number) => number;
  /** Injected for tests. */
  isFree?: (port: number, host: string) => Promise<boolean>;
  maxAttempts?: number;
}

const defaultRandom = (min: number, max: number): number => min + Math.floor(Math.random() * (max - min + 1));

/**
 * Picks `count` distinct free ports (and their partners when `pairOffset` is set) such that no
 * port or partner collides with another or with `exclude`. Random rather than sequential so two
 * stacks started at the same moment (dev + tests) are unlikely to race for the same port.
 */
export async function pickFreePorts(opts: PickPortsOptions): Promise<number[]> {
  const host = opts.host ?? '127.0.0.1';
  const random = opts.random ?? defaultRandom;
  const isFree = opts.isFree ?? isPortFree;
  const taken = new Set<number>(opts.exclude ?? []);
  const picked: number[] = [];
  const maxAttempts = opts.maxAttempts ?? 500;
  for (let attempt = 0; picked.length < opts.count; attempt++) {
    if (attempt >= maxAttempts) {
      throw new Error(
        `could not find ${opts.count} free loopback ports in ${PORT_RANGE.min}-${PORT_RANGE.max} after ${maxAttempts} tries; ` +
          'free some ports or fix them explicitly (see `cgm services up --help`)',
      );
    }
    const port = random(PORT_RANGE.min, PORT_RANGE.max);
    const partner = opts.pairOffset ? port + opts.pairOffset : undefined;
    if (taken.has(port) || (partner !== undefined && taken.has(partner))) continue;
    if (!(await isFree(port, host))) continue;
    if (partner !== undefined && !(await isFree(partner, host))) continue;
    taken.add(port);
    if (partner !== undefined) taken.add(partner);
    picked.push(port);
  }
  return picked;
}
