// Connection options for Temporal from the configuration, one shape for both the client's
// `Connection.connect` and the worker's `NativeConnection.connect`: plain on a dev server, TLS with a
// bearer API key or an mTLS client certificate on Temporal Cloud.
import { readFile } from 'node:fs/promises';
import type { Config } from './config.js';

export interface TemporalConnectOptions {
  address: string;
  tls?: {
    serverNameOverride?: string;
    clientCertPair?: { crt: Uint8Array; key: Uint8Array };
  };
  apiKey?: string;
}

/** Reads the certificate files when mTLS is configured; errors name the variable and the path. */
export async function temporalConnectOptions(
  temporal: Config['temporal'],
  read: (path: string) => Promise<Uint8Array> = readFile,
): Promise<TemporalConnectOptions> {
  const { tls, apiKey, address } = temporal;
  const hasCert = tls.certFile !== undefined && tls.keyFile !== undefined;
  const useTls = tls.mode === 'on' || (tls.mode === 'auto' && (apiKey !== undefined || hasCert));
  if (!useTls) return { address };
  const readPem = async (variable: string, path: string) => {
    try {
      return await read(path);
    } catch (err) {
      throw new Error(`${variable}=${path}: cannot read the PEM file (${(err as Error).message})`);
    }
  };
  return {
    address,
    tls: {
      ...(tls.serverName && { serverNameOverride: tls.serverName }),
      ...(hasCert && {
        clientCertPair: {
          crt: await readPem('CGM_TEMPORAL_TLS_CERT', tls.certFile!),
          key: await readPem('CGM_TEMPORAL_TLS_KEY', tls.keyFile!),
        },
      }),
    },
    ...(apiKey && { apiKey }),
  };
}
