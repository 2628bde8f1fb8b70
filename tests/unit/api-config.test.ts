// The API's view of the configuration (CGM_API_* are declared in core/config), key hashing, the token bucket.
import { describe, expect, it } from 'vitest';
import { loadApiConfig } from '../../api/config.js';
import { createKeyring, hashApiKey, keyIdOf } from '../../api/middleware/auth.js';
import { createTokenBuckets } from '../../api/middleware/rate-limit.js';
import { ConfigError, loadConfig } from '../../core/config/index.js';

describe('loadApiConfig', () => {
  it('keeps only hashes: CGM_API_KEYS hashed at load, CGM_API_KEY_SHA256 taken as is', () => {
    const pre = hashApiKey('from-hash-list');
    const [alpha, beta] = ['alpha-key-0123456789abc', 'beta-key-0123456789abcd'];
    const api = loadApiConfig(loadConfig({ CGM_API_KEYS: `${alpha},${beta}`, CGM_API_KEY_SHA256: pre }));
    expect(api.keyHashes).toEqual([hashApiKey(alpha), hashApiKey(beta), pre]);
    expect(JSON.stringify(api)).not.toContain('alpha');
    expect(api.webhookPolicy).toEqual({ allowPrivate: false, allowHttp: false, allowedHosts: [] });
    expect(api.limits).toEqual({
      maxJsonBytes: 1048576,
      maxImageBytes: 20971520,
      maxBatchFileBytes: 67108864,
      minImageSide: 64,
      maxImageSide: 4096,
    });
    expect(api.taskQueue).toBe('cgm-light');
    expect(api.gpuTaskQueue).toBe('cgm-gpu');
  });

  it('takes both task queues from the core configuration', () => {
    const api = loadApiConfig(loadConfig({ CGM_TASK_QUEUE_LIGHT: 'l-q', CGM_TASK_QUEUE_GPU: 'g-q' }));
    expect([api.taskQueue, api.gpuTaskQueue]).toEqual(['l-q', 'g-q']);
  });

  it('reads the development webhook policy and limits', () => {
    const config = loadConfig({
      CGM_API_WEBHOOK_ALLOW_PRIVATE: 'true',
      CGM_API_WEBHOOK_ALLOW_HTTP: 'yes',
      CGM_API_WEBHOOK_ALLOWED_HOSTS: 'hooks.example.com, *.corp.example',
      CGM_API_MAX_IMAGE_SIDE: '2048',
      CGM_API_RATE_PER_MINUTE: '10',
    });
    const api = loadApiConfig(config);
    // the light worker reads the same policy from the same configuration, not from the API's
    expect(config.webhooks.urlPolicy).toBe(api.webhookPolicy);
    expect(api.webhookPolicy).toEqual({
      allowPrivate: true,
      allowHttp: true,
      allowedHosts: ['hooks.example.com', '*.corp.example'],
    });
    expect(api.limits.maxImageSide).toBe(2048);
    expect(api.rateLimit.perMinute).toBe(10);
  });

  it('lists every bad variable, hiding key hashes: one ConfigError for core and API alike', () => {
    const err = (() => {
      try {
        loadConfig({ CGM_API_KEY_SHA256: 'secret-not-hex', CGM_API_RATE_BURST: 'many', CGM_S3_REGION: '' });
      } catch (e) {
        return e;
      }
    })() as ConfigError;
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.issues.map((i) => i.variable)).toEqual(['CGM_API_KEY_SHA256', 'CGM_API_RATE_BURST']);
    expect(err.message).toContain('CGM_API_KEY_SHA256=(hidden)');
    expect(err.message).not.toContain('secret-not-hex');
    expect(() => loadConfig({ CGM_API_MIN_IMAGE_SIDE: '5000' })).toThrow(
      /CGM_API_MIN_IMAGE_SIDE="5000": at most CGM_API_MAX_IMAGE_SIDE \(4096\)/,
    );
  });
});

describe('keyring', () => {
  it('matches configured keys to their key id and nothing else', () => {
    const ring = createKeyring([hashApiKey('k1'), hashApiKey('k2')]);
    expect(ring.match('k2')).toBe(keyIdOf(hashApiKey('k2')));
    expect(ring.match('k3')).toBeNull();
    expect(ring.match('')).toBeNull();
    expect(createKeyring([]).match('k1')).toBeNull();
  });
});

describe('token bucket', () => {
  it('allows the burst, then one request per refill interval, per key', () => {
    let t = 0;
    const buckets = createTokenBuckets({ perMinute: 6, burst: 2, now: () => t });
    expect(buckets.take('a')).toBe(0);
    expect(buckets.take('a')).toBe(0);
    expect(buckets.take('a')).toBe(10_000); // 6/min → one token per 10 s
    expect(buckets.take('b')).toBe(0);
    t = 5_000;
    expect(buckets.take('a')).toBe(5_000);
    t = 10_000;
    expect(buckets.take('a')).toBe(0);
  });
});
