// Temporal Cloud connection settings (API key, mTLS) and secrets given by ARN reference.
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  loadConfig,
  pendingSecretRefs,
  resolveSecretRefs,
  SecretRefError,
  temporalConnectOptions,
} from '../../core/config/index.js';

const pem = (text: string) => new TextEncoder().encode(text);
const files: Record<string, Uint8Array> = {
  '/certs/client.pem': pem('CERT'),
  '/certs/client.key': pem('KEY'),
};
const read = async (path: string) => {
  const f = files[path];
  if (!f) throw new Error(`ENOENT: no such file '${path}'`);
  return f;
};

/** A key digest as `cgm api hash-key` prints it (CGM_API_KEY_SHA256 is validated as sha256 hex). */
const KEY_HASH = 'ab'.repeat(32);

describe('Temporal connection options', () => {
  it('stays plain on a dev server', async () => {
    const c = loadConfig({});
    expect(await temporalConnectOptions(c.temporal, read)).toEqual({ address: '127.0.0.1:7233' });
  });

  it('turns TLS on with an API key (Temporal Cloud)', async () => {
    const c = loadConfig({ CGM_TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233', CGM_TEMPORAL_API_KEY: 'k-123' });
    expect(await temporalConnectOptions(c.temporal, read)).toEqual({
      address: 'ns.acct.tmprl.cloud:7233',
      tls: {},
      apiKey: 'k-123',
    });
  });

  it('reads the mTLS certificate pair and the server name override', async () => {
    const c = loadConfig({
      CGM_TEMPORAL_TLS_CERT: '/certs/client.pem',
      CGM_TEMPORAL_TLS_KEY: '/certs/client.key',
      CGM_TEMPORAL_TLS_SERVER_NAME: 'temporal.internal',
    });
    const o = await temporalConnectOptions(c.temporal, read);
    expect(o.tls?.serverNameOverride).toBe('temporal.internal');
    expect(new TextDecoder().decode(o.tls?.clientCertPair?.crt)).toBe('CERT');
    expect(new TextDecoder().decode(o.tls?.clientCertPair?.key)).toBe('KEY');
    expect(o.apiKey).toBeUndefined();
  });

  it('names the variable and path of an unreadable certificate', async () => {
    const c = loadConfig({ CGM_TEMPORAL_TLS_CERT: '/nope.pem', CGM_TEMPORAL_TLS_KEY: '/certs/client.key' });
    await expect(temporalConnectOptions(c.temporal, read)).rejects.toThrow(
      /CGM_TEMPORAL_TLS_CERT=\/nope\.pem/,
    );
  });

  it('rejects half a certificate pair, and credentials without TLS, naming the variable; hides the key', () => {
    expect(() => loadConfig({ CGM_TEMPORAL_TLS_CERT: '/certs/client.pem' })).toThrow(/CGM_TEMPORAL_TLS_KEY/);
    let err: unknown;
    try {
      loadConfig({ CGM_TEMPORAL_TLS: 'off', CGM_TEMPORAL_API_KEY: 'secret-key' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/CGM_TEMPORAL_TLS="off"/);
    expect((err as Error).message).not.toContain('secret-key');
    expect(() => loadConfig({ CGM_TEMPORAL_TLS: 'maybe' })).toThrow(
      /CGM_TEMPORAL_TLS="maybe": expected auto, on or off/,
    );
  });
});

describe('secret references (CGM_X_SECRET_ARN)', () => {
  const ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:cgm-temporal-AbCdEf';
  const secrets: Record<string, string> = {
    [ARN]: JSON.stringify({ apiKey: 'from-json' }),
    'arn:aws:secretsmanager:us-east-1:123456789012:secret:plain': KEY_HASH,
  };
  const fetchSecret = async (arn: string) => {
    const v = secrets[arn];
    if (v === undefined) throw new Error('ResourceNotFoundException');
    return v;
  };

  it('resolves plain and JSON-key references; a directly set variable wins', async () => {
    const env: Record<string, string | undefined> = {
      CGM_TEMPORAL_API_KEY_SECRET_ARN: `${ARN}#apiKey`,
      CGM_API_KEY_SHA256_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:plain',
      CGM_VLM_API_KEY_SECRET_ARN: ARN,
      CGM_VLM_API_KEY: 'explicit',
    };
    expect(pendingSecretRefs(env)).toEqual(['CGM_API_KEY_SHA256', 'CGM_TEMPORAL_API_KEY']);
    expect(await resolveSecretRefs(env, fetchSecret)).toEqual(['CGM_API_KEY_SHA256', 'CGM_TEMPORAL_API_KEY']);
    expect(env.CGM_TEMPORAL_API_KEY).toBe('from-json');
    expect(env.CGM_API_KEY_SHA256).toBe(KEY_HASH);
    expect(env.CGM_VLM_API_KEY).toBe('explicit');
    expect(loadConfig(env).temporal.apiKey).toBe('from-json');
    expect(loadConfig(env).api.keySha256).toEqual([KEY_HASH]);
  });

  it('names the variable and the reference when it cannot be resolved', async () => {
    const cases: [string, RegExp][] = [
      ['not-an-arn', /expected a secret ARN/],
      [`${ARN}#missing`, /no non-empty string key 'missing'/],
      [
        'arn:aws:secretsmanager:us-east-1:1:secret:gone',
        /could not read the secret \(ResourceNotFoundException\)/,
      ],
      ['arn:aws:secretsmanager:us-east-1:123456789012:secret:plain#k', /not JSON/],
    ];
    for (const [value, message] of cases) {
      const env = { CGM_TEMPORAL_API_KEY_SECRET_ARN: value };
      const run = resolveSecretRefs(env, fetchSecret);
      await expect(run).rejects.toBeInstanceOf(SecretRefError);
      await expect(resolveSecretRefs({ ...env }, fetchSecret)).rejects.toThrow(
        new RegExp(
          `CGM_TEMPORAL_API_KEY_SECRET_ARN=${value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .*${message.source}`,
        ),
      );
    }
  });
});
