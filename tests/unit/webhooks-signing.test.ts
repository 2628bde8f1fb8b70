// Our Standard Webhooks signing against the reference `standardwebhooks` package, and the notify
// activity against a real loopback receiver: same webhook-id on every attempt, retry taxonomy.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import fc from 'fast-check';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createWebhookActivities,
  generateWebhookSecret,
  isPrivateAddress,
  sign,
  tenantSecret,
  verify,
  WEBHOOK_FAILURE,
  type WebhookEvent,
  WebhookVerifyError,
  webhookHeaders,
} from '../../activities/webhooks/index.js';
import { boundedLookup, checkWebhookUrl, LOOKUP_CONCURRENCY } from '../../core/webhooks/url-policy.js';

const secret = generateWebhookSecret();

describe('signing matches the standardwebhooks package', () => {
  it('produces the same signature for any id, time and body', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Za-z0-9_:-]{1,40}$/),
        fc.integer({ min: 1_600_000_000, max: 2_000_000_000 }),
        fc.string(),
        (id, ts, body) => {
          expect(sign(secret, id, ts, body)).toBe(new Webhook(secret).sign(id, new Date(ts * 1000), body));
        },
      ),
    );
  });

  it('our headers verify with standardwebhooks; theirs verify with ours; tampering fails both', () => {
    const body = JSON.stringify({
      type: 'counterfactual.completed',
      timestamp: new Date().toISOString(),
      data: { id: 'cf-1' },
    });
    const now = Math.floor(Date.now() / 1000);
    const headers = webhookHeaders(secret, 'cf-1:completed', now, body);
    expect(new Webhook(secret).verify(body, { ...headers })).toMatchObject({ data: { id: 'cf-1' } });
    expect(() => new Webhook(secret).verify(`${body} `, { ...headers })).toThrow();
    expect(() => new Webhook(generateWebhookSecret()).verify(body, { ...headers })).toThrow();

    const theirs = new Webhook(secret).sign('msg_1', new Date(now * 1000), body);
    expect(() =>
      verify(secret, body, {
        'webhook-id': 'msg_1',
        'webhook-timestamp': String(now),
        'webhook-signature': theirs,
      }),
    ).not.toThrow();
    // Key rotation: several space-separated signatures, one matching.
    expect(() =>
      verify(secret, body, {
        'webhook-id': 'msg_1',
        'webhook-timestamp': String(now),
        'webhook-signature': `v1,AAAA ${theirs}`,
      }),
    ).not.toThrow();
    expect(() => verify(secret, body, { ...headers, 'webhook-id': 'other' })).toThrow(WebhookVerifyError);
    expect(() => verify(secret, body, { ...headers }, now + 301)).toThrow(/timestamp/);
  });

  it('refuses malformed secrets and ids', () => {
    expect(() => sign('whsec_!!!', 'a', 1, '')).toThrow(/not base64/);
    expect(() => sign('whsec_AAAA', 'a', 1, '')).toThrow(/decodes to 3 bytes/);
    expect(() => webhookHeaders(secret, 'has space', 1, '')).toThrow();
  });
});

describe('isPrivateAddress', () => {
  it.each([
    ['127.0.0.1', true],
    ['10.20.30.40', true],
    ['172.31.255.255', true],
    ['172.32.0.1', false],
    ['192.168.1.1', true],
    ['169.254.169.254', true],
    ['100.64.0.1', true],
    ['0.0.0.0', true],
    ['224.0.0.1', true],
    ['93.184.216.34', false],
    ['8.8.8.8', false],
    ['::1', true],
    ['::', true],
    ['fe80::1', true],
    ['fd00::1', true],
    ['::ffff:127.0.0.1', true],
    ['::ffff:7f00:1', true],
    ['::ffff:8.8.8.8', false],
    ['::ffff:0:127.0.0.1', true],
    ['::ffff:0:10.0.0.1', true],
    ['::ffff:0:8.8.8.8', false],
    ['64:ff9b::a00:1', true],
    ['2606:4700::1111', false],
    ['not-an-ip', true],
  ])('%s → %s', (address, expected) => {
    expect(isPrivateAddress(address)).toBe(expected);
  });
});

describe('notifyWebhook against a loopback receiver', () => {
  let server: Server;
  let url: string;
  const received: { headers: IncomingHttpHeaders; body: string }[] = [];
  let answers: { status: number; headers?: Record<string, string> }[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => {
        body += chunk;
      });
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        const a = answers.shift() ?? { status: 204 };
        res.writeHead(a.status, a.headers).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/cgm?token=abc`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));
  beforeEach(() => {
    received.length = 0;
    answers = [];
  });

  const devPolicy = { allowPrivate: true, allowHttp: true, allowedHosts: [] };
  const event: WebhookEvent = {
    type: 'counterfactual.completed',
    timestamp: '2026-11-28T12:00:00.000Z',
    data: { id: 'cf-abc', status: 'succeeded' },
  };
  const input = () => ({ url, secret, event, id: 'cf-abc:completed' });
  const failureOf = async (p: Promise<unknown>) => {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApplicationFailure);
    return err as ApplicationFailure;
  };

  it('retries a 503 and delivers with the same webhook-id; standardwebhooks verifies every attempt', async () => {
    answers = [{ status: 503 }, { status: 200 }];
    const { notifyWebhook } = createWebhookActivities({ policy: devPolicy });
    const first = await failureOf(new MockActivityEnvironment({ attempt: 1 }).run(notifyWebhook, input()));
    expect(first.type).toBe(WEBHOOK_FAILURE.transient);
    expect(first.nonRetryable).toBe(false);
    const ok = await new MockActivityEnvironment({ attempt: 2 }).run(notifyWebhook, input());
    expect(ok).toEqual({ status: 200, attempt: 2 });
    expect(received).toHaveLength(2);
    expect(received.map((r) => r.headers['webhook-id'])).toEqual(['cf-abc:completed', 'cf-abc:completed']);
    expect(received[0]!.body).toBe(received[1]!.body); // identical bytes on every attempt
    for (const r of received) {
      const payload = new Webhook(secret).verify(r.body, r.headers as Record<string, string>);
      expect(payload).toEqual(event);
      expect(r.headers['content-type']).toBe('application/json');
    }
  });

  it('429 is retryable after Retry-After; 408 retryable; other 4xx and redirects are not', async () => {
    const { notifyWebhook } = createWebhookActivities({ policy: devPolicy, now: () => 1_700_000_000_000 });
    answers = [{ status: 429, headers: { 'retry-after': '7' } }];
    const limited = await failureOf(notifyWebhook(input()));
    expect(limited.nonRetryable).toBe(false);
    expect(limited.nextRetryDelay).toBe(7000);
    expect(received[0]!.headers['webhook-timestamp']).toBe('1700000000');
    answers = [{ status: 408 }];
    expect((await failureOf(notifyWebhook(input()))).nonRetryable).toBe(false);
    answers = [{ status: 400 }];
    const rejected = await failureOf(notifyWebhook(input()));
    expect(rejected.type).toBe(WEBHOOK_FAILURE.rejected);
    expect(rejected.nonRetryable).toBe(true);
    expect(rejected.message).not.toContain('token=abc'); // query strings may hold secrets
    answers = [{ status: 302, headers: { location: 'http://169.254.169.254/' } }];
    const redirected = await failureOf(notifyWebhook(input()));
    expect(redirected.type).toBe(WEBHOOK_FAILURE.rejected);
    expect(redirected.message).toContain('redirect');
  });

  it('a connection error is retryable', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const { notifyWebhook } = createWebhookActivities({ policy: devPolicy });
    const f = await failureOf(notifyWebhook({ ...input(), url: `http://127.0.0.1:${port}/` }));
    expect(f.type).toBe(WEBHOOK_FAILURE.transient);
    expect(f.nonRetryable).toBe(false);
  });

  it('the strict policy refuses loopback before sending anything; a missing secret is non-retryable', async () => {
    const strict = createWebhookActivities();
    const f = await failureOf(strict.notifyWebhook(input()));
    expect(f.type).toBe(WEBHOOK_FAILURE.forbidden);
    expect(f.nonRetryable).toBe(true);
    const noSecret = createWebhookActivities({ policy: devPolicy });
    const g = await failureOf(noSecret.notifyWebhook({ ...input(), secret: undefined }));
    expect(g.type).toBe(WEBHOOK_FAILURE.misconfigured);
    expect(received).toHaveLength(0);
  });

  it("accepts the workflow's shape too: a string event type plus data", async () => {
    const { notifyWebhook } = createWebhookActivities({ policy: devPolicy, secret });
    await notifyWebhook({ url, id: 'cf-abc:succeeded', event: 'run.succeeded', data: { runId: 'cf-abc' } });
    const payload = new Webhook(secret).verify(
      received[0]!.body,
      received[0]!.headers as Record<string, string>,
    );
    expect(payload).toEqual({ type: 'run.succeeded', data: { runId: 'cf-abc' } });
  });

  it("signs a key's webhooks with that key's own secret; another key's secret and the operator's do not verify", async () => {
    const { notifyWebhook } = createWebhookActivities({ policy: devPolicy, secret });
    await notifyWebhook({ ...input(), secret: undefined, tenant: 'a1b2c3d4e5f6' });
    const r = received[0]!;
    const headers = r.headers as Record<string, string>;
    const own = tenantSecret(secret, 'a1b2c3d4e5f6');
    expect(new Webhook(own).verify(r.body, headers)).toEqual(event);
    expect(() => new Webhook(tenantSecret(secret, 'ffffffffffff')).verify(r.body, headers)).toThrow();
    expect(() => new Webhook(secret).verify(r.body, headers)).toThrow();
    // Derived, not random: the API hands out the same secret the worker signs with.
    expect(tenantSecret(secret, 'a1b2c3d4e5f6')).toBe(own);
    expect(own).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
  });

  it('during a rotation every delivery carries two signatures: receivers on either secret verify', async () => {
    const next = generateWebhookSecret();
    const { notifyWebhook } = createWebhookActivities({
      policy: devPolicy,
      secret: next,
      previousSecret: secret,
    });
    await notifyWebhook({ ...input(), secret: undefined, tenant: 'a1b2c3d4e5f6' });
    const r = received[0]!;
    const headers = r.headers as Record<string, string>;
    expect(headers['webhook-signature']!.split(' ')).toHaveLength(2);
    for (const s of [next, secret]) {
      expect(new Webhook(tenantSecret(s, 'a1b2c3d4e5f6')).verify(r.body, headers)).toEqual(event);
    }
    expect(() =>
      new Webhook(tenantSecret(generateWebhookSecret(), 'a1b2c3d4e5f6')).verify(r.body, headers),
    ).toThrow();
    // Without a rotation, one signature.
    received.length = 0;
    await createWebhookActivities({ policy: devPolicy, secret: next }).notifyWebhook({
      ...input(),
      secret: undefined,
    });
    expect((received[0]!.headers['webhook-signature'] as string).split(' ')).toHaveLength(1);
  });

  it('the factory secret signs when the input has none', async () => {
    const { notifyWebhook } = createWebhookActivities({ policy: devPolicy, secret });
    await notifyWebhook({ ...input(), secret: undefined });
    expect(() =>
      new Webhook(secret).verify(received[0]!.body, received[0]!.headers as Record<string, string>),
    ).not.toThrow();
  });

  it('dials the address the policy checked: a name that rebinds after the check is not resolved again', async () => {
    // The receiver listens on 127.0.0.1 only; the name answers 127.0.0.1 to the check and 127.0.0.2
    // after it. A second resolution would dial 127.0.0.2 and fail.
    const answersOfName = ['127.0.0.1', '127.0.0.2'];
    const asked: string[] = [];
    const lookup = async (host: string) => {
      asked.push(host);
      return [{ address: answersOfName.shift() ?? '127.0.0.2', family: 4 }];
    };
    const { notifyWebhook } = createWebhookActivities({ policy: devPolicy, secret, lookup });
    const port = new URL(url).port;
    const res = await notifyWebhook({ ...input(), url: `http://rebinding.test:${port}/hooks/cgm` });
    expect(res.status).toBe(204);
    expect(asked).toEqual(['rebinding.test']);
    expect(received).toHaveLength(1);
    expect(received[0]!.headers.host).toBe(`rebinding.test:${port}`);
  });
});

describe('webhook host lookups', () => {
  it('give up after the timeout, and never run more than the cap at once', async () => {
    let inFlight = 0;
    let most = 0;
    const slow = async () => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((r) => setTimeout(r, 30));
      inFlight--;
      return [{ address: '93.184.216.34', family: 4 }];
    };
    await Promise.all(Array.from({ length: 12 }, (_, i) => boundedLookup(slow, `h${i}.example.com`)));
    expect(most).toBe(LOOKUP_CONCURRENCY);
    const never = () => new Promise<never>(() => {});
    await expect(boundedLookup(never, 'hang.example.com', 50)).rejects.toThrow(/no answer within 50 ms/);
    const verdict = await checkWebhookUrl(
      'https://hang.example.com/hook',
      { allowPrivate: false, allowHttp: false, allowedHosts: [] },
      async (host) => boundedLookup(never, host, 50),
    );
    expect(verdict).toEqual({ ok: false, reason: "host 'hang.example.com' does not resolve" });
  });
});
