import { describe, expect, it } from 'vitest';
import {
  BASELINE_PRESETS,
  ConfigError,
  ENV_VARS,
  loadConfig,
  OPTIONAL_VARS,
  PAPER_DEFAULTS,
  renderConfigTable,
  unknownCgmVariables,
} from '../../core/config/index.js';

const errorOf = (env: Record<string, string>): ConfigError => {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
};

describe('loadConfig', () => {
  it('gives the documented defaults for an empty environment', () => {
    const c = loadConfig({});
    expect(c.temporal).toEqual({
      address: '127.0.0.1:7233',
      namespace: 'default',
      taskQueues: { light: 'cgm-light', gpu: 'cgm-gpu' },
      apiKey: undefined,
      tls: { mode: 'auto', certFile: undefined, keyFile: undefined, serverName: undefined },
    });
    expect(c.s3).toMatchObject({ region: 'us-east-1', bucket: 'cgm-artifacts', forcePathStyle: true });
    expect(c.s3.accessKeyId).toBeUndefined();
    expect(c.engine.device).toBe('cpu');
    expect(c.api).toMatchObject({
      port: 8787,
      host: '127.0.0.1',
      keys: [],
      keySha256: [],
      triggerBuckets: [],
    });
    expect(c.webhooks.urlPolicy).toEqual({ allowPrivate: false, allowHttp: false, allowedHosts: [] });
    expect(c.services.startTimeoutMs).toBe(180_000);
    expect(c.services.temporalPort).toBeUndefined();
  });

  it('reads and converts every kind of value', () => {
    const c = loadConfig({
      CGM_TEMPORAL_ADDRESS: 'temporal.internal:7233',
      CGM_S3_FORCE_PATH_STYLE: 'FALSE',
      CGM_S3_ACCESS_KEY_ID: 'ak',
      CGM_S3_SECRET_ACCESS_KEY: 'sk',
      CGM_VLM_TIMEOUT_MS: '5000',
      CGM_ENGINE_DEVICE: 'cuda',
      CGM_API_KEYS: ' key-a-0123456789abcdef, key-b-0123456789abcdef ,,key-c-0123456789abcdef ',
      CGM_LOG_LEVEL: 'WARN',
      CGM_SERVICES_S3_PORT: '18333',
    });
    expect(c.temporal.address).toBe('temporal.internal:7233');
    expect(c.s3.forcePathStyle).toBe(false);
    expect(c.s3.accessKeyId).toBe('ak');
    expect(c.vlm.timeoutMs).toBe(5000);
    expect(c.engine.device).toBe('cuda');
    expect(c.api.keys).toEqual([
      'key-a-0123456789abcdef',
      'key-b-0123456789abcdef',
      'key-c-0123456789abcdef',
    ]);
    expect(c.logLevel).toBe('warn');
    expect(c.services.s3Port).toBe(18333);
  });

  it('treats empty strings as unset', () => {
    expect(loadConfig({ CGM_API_PORT: '', CGM_VLM_API_KEY: '  ' }).api.port).toBe(8787);
  });

  it('names the variable, the value and what was expected, for every bad variable at once', () => {
    const err = errorOf({ CGM_API_PORT: '80a', CGM_ENGINE_DEVICE: 'tpu', CGM_S3_FORCE_PATH_STYLE: 'maybe' });
    expect(err.issues.map((i) => i.variable).sort()).toEqual([
      'CGM_API_PORT',
      'CGM_ENGINE_DEVICE',
      'CGM_S3_FORCE_PATH_STYLE',
    ]);
    expect(err.message).toContain('CGM_API_PORT="80a": expected an integer');
    expect(err.message).toContain('CGM_ENGINE_DEVICE="tpu": expected cpu or cuda');
    expect(err.message).toContain('CGM_S3_FORCE_PATH_STYLE="maybe": expected true or false');
  });

  it('rejects out-of-range numbers, bad URLs and bad addresses', () => {
    expect(errorOf({ CGM_API_PORT: '70000' }).message).toContain('≤ 65535');
    expect(errorOf({ CGM_VLM_BASE_URL: 'ftp://x' }).issues[0]!.variable).toBe('CGM_VLM_BASE_URL');
    expect(errorOf({ CGM_TEMPORAL_ADDRESS: 'localhost' }).message).toContain('expected host:port');
    expect(errorOf({ CGM_S3_BUCKET: 'Bad_Bucket' }).message).toContain('S3 bucket name');
  });

  it('refuses an API key shorter than 20 characters without echoing it', () => {
    const err = errorOf({ CGM_API_KEYS: 'long-enough-key-0123456789,short1' });
    expect(err.issues.map((i) => i.variable)).toEqual(['CGM_API_KEYS']);
    expect(err.message).toContain('every key must be at least 20 characters');
    expect(err.message).not.toContain('short1');
    expect(err.message).not.toContain('long-enough-key');
  });

  it('never echoes a secret value', () => {
    const err = errorOf({ CGM_S3_ACCESS_KEY_ID: 'only-the-key' });
    expect(err.message).toContain('set both CGM_S3_ACCESS_KEY_ID and CGM_S3_SECRET_ACCESS_KEY');
    expect(err.message).not.toContain('only-the-key');
  });

  it('carries the paper defaults unchanged', () => {
    const c = loadConfig({});
    expect(c.paper).toBe(PAPER_DEFAULTS);
    expect(PAPER_DEFAULTS).toMatchObject({
      inversionSteps: 100,
      skip: 0.15,
      sourceGuidanceScale: 3.5,
      editGuidanceScale: 8,
      editThreshold: 0.7,
      editWarmupSteps: 10,
      useIntersectMask: true,
      extractorTemperature: 0.1,
      manipulatorTemperature: 0.2,
      extractorMaxTokens: 2048,
      manipulatorMaxTokens: 3072,
      interventionsPerImage: 3,
      imagesPerDataset: 75,
    });
    expect(BASELINE_PRESETS.paper).toEqual({
      numSteps: 100,
      skip: 0.15,
      cfgSource: 3.5,
      cfgTarget: 15,
      numZeroNoiseSteps: 1,
    });
    // The EF-DDPM repository's grid: 100 steps with the first 36 skipped, 64 run.
    const ef = BASELINE_PRESETS['ef-ddpm'];
    expect(Math.trunc(ef.numSteps * (1 + ef.skip))).toBe(100);
    expect(ef.numSteps).toBe(64);
  });
});

describe('variable list', () => {
  it('declares unique CGM_ names, a description for each, and marks exactly the default-less ones optional', () => {
    const specs = Object.entries(ENV_VARS);
    const names = specs.map(([, s]) => s.name);
    expect(new Set(names).size).toBe(names.length);
    for (const [, s] of specs) {
      expect(s.name).toMatch(/^CGM_[A-Z0-9_]+$/);
      expect(s.description.length).toBeGreaterThan(5);
    }
    const withoutDefault = specs.filter(([, s]) => s.default === undefined).map(([k]) => k);
    expect(withoutDefault.sort()).toEqual([...OPTIONAL_VARS].sort());
  });

  it('renders a Markdown table with one row per variable', () => {
    const table = renderConfigTable().split('\n');
    expect(table[0]).toBe('| variable | default | meaning |');
    expect(table).toHaveLength(2 + Object.keys(ENV_VARS).length);
    expect(table).toContain('| `CGM_TASK_QUEUE_GPU` | `cgm-gpu` | entry task queue of the GPU workers |');
  });

  it('reports unknown CGM_ variables as likely typos', () => {
    expect(
      unknownCgmVariables({ CGM_S3_BUKET: 'x', CGM_S3_BUCKET: 'y', CGM_PYTHON: 'p', HOME: '/' }),
    ).toEqual(['CGM_S3_BUKET']);
  });
});
