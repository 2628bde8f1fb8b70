// The CDK app's trigger inbox (issue #20), synthesised offline: an S3 bucket's ObjectCreated events
// reach POST /v1/hooks/{triggerId} through EventBridge (a rule → an API destination whose connection
// sends the trigger secret from Secrets Manager) or through SNS (a bucket notification → a topic → an
// HTTPS subscription to the hook); the API may read the inbox and lists it in CGM_API_TRIGGER_BUCKETS.
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { CgmStack } from '../../infra/cdk/stack.js';
import { TRIGGER_SECRET_HEADER } from '../../infra/cdk/trigger-inbox.js';

const TRIGGER = 'trg_0123456789abcdef01234567';
const base = {
  imageTag: 'test-sha',
  temporalAddress: 'ns.acct.tmprl.cloud:7233',
  temporalNamespace: 'ns.acct',
  vlmBaseUrl: 'http://vlm.internal:8000/v1',
};

type Resources = Record<string, { Properties: Record<string, unknown> }>;

let eventBridge: Template;
let sns: Template;

beforeAll(() => {
  // One synth per app: each stack in its own.
  eventBridge = Template.fromStack(
    new CgmStack(new App(), 'ViaEventBridge', {
      ...base,
      triggerInbox: { triggerId: TRIGGER, prefix: 'new/' },
    }),
  );
  sns = Template.fromStack(
    new CgmStack(new App(), 'ViaSns', { ...base, triggerInbox: { triggerId: TRIGGER, via: 'sns' } }),
  );
}, 120_000);

/** The logical id of the one resource of `type` whose id or properties match. */
const idOf = (t: Template, type: string, match: (id: string, p: Record<string, unknown>) => boolean) => {
  const found = Object.entries(t.findResources(type) as Resources).filter(([id, r]) =>
    match(id, r.Properties),
  );
  expect(found, type).toHaveLength(1);
  return found[0]![0];
};
const inInbox = (id: string) => id.startsWith('TriggerInbox');
const apiFunctionVars = (t: Template) =>
  (
    Object.values(t.findResources('AWS::Lambda::Function') as Resources).find(
      (f) => (f.Properties.Environment as { Variables?: Record<string, unknown> })?.Variables?.CGM_API_HOST,
    )!.Properties.Environment as { Variables: Record<string, unknown> }
  ).Variables;

describe('trigger inbox via EventBridge', () => {
  it('sends the inbox bucket’s events to EventBridge, matched by a rule on Object Created under the prefix', () => {
    const inbox = idOf(eventBridge, 'AWS::S3::Bucket', inInbox);
    eventBridge.hasResourceProperties('AWS::S3::Bucket', {
      PublicAccessBlockConfiguration: Match.objectLike({
        BlockPublicAcls: true,
        RestrictPublicBuckets: true,
      }),
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
    });
    eventBridge.hasResourceProperties('Custom::S3BucketNotifications', {
      BucketName: { Ref: inbox },
      NotificationConfiguration: { EventBridgeConfiguration: {} },
    });
    eventBridge.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.s3'],
        'detail-type': ['Object Created'],
        detail: { bucket: { name: [{ Ref: inbox }] }, object: { key: [{ prefix: 'new/' }] } },
      },
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('Destination'), 'Arn'] },
          RetryPolicy: { MaximumRetryAttempts: 20, MaximumEventAgeInSeconds: 86_400 },
        }),
      ],
    });
  });

  it('posts to the trigger’s hook on the API with the trigger secret from Secrets Manager in its header', () => {
    const destination = Object.values(eventBridge.findResources('AWS::Events::ApiDestination') as Resources);
    expect(destination).toHaveLength(1);
    expect(destination[0]!.Properties.HttpMethod).toBe('POST');
    const endpoint = JSON.stringify(destination[0]!.Properties.InvocationEndpoint);
    expect(endpoint).toContain(`/v1/hooks/${TRIGGER}`);
    expect(endpoint).toMatch(/HttpApi/);
    const secret = idOf(eventBridge, 'AWS::SecretsManager::Secret', inInbox);
    const connection = Object.values(eventBridge.findResources('AWS::Events::Connection') as Resources)[0]!;
    const auth = connection.Properties.AuthParameters as {
      ApiKeyAuthParameters: { ApiKeyName: string; ApiKeyValue: unknown };
    };
    expect(connection.Properties.AuthorizationType).toBe('API_KEY');
    expect(auth.ApiKeyAuthParameters.ApiKeyName).toBe(TRIGGER_SECRET_HEADER);
    // A dynamic reference resolved at deploy time: the secret is never in the template.
    const value = JSON.stringify(auth.ApiKeyAuthParameters.ApiKeyValue);
    expect(value).toContain('{{resolve:secretsmanager:');
    expect(value).toContain(`"Ref":"${secret}"`);
  });

  it('lets the API read the inbox under the prefix, and names it in CGM_API_TRIGGER_BUCKETS', () => {
    const inbox = idOf(eventBridge, 'AWS::S3::Bucket', inInbox);
    expect(apiFunctionVars(eventBridge).CGM_API_TRIGGER_BUCKETS).toEqual({ Ref: inbox });
    const statements = Object.values(eventBridge.findResources('AWS::IAM::Policy') as Resources).flatMap(
      (p) =>
        (p.Properties.PolicyDocument as { Statement: { Action: unknown; Resource: unknown }[] }).Statement,
    );
    // The API reads objects under the prefix; CDK's notification handler may only configure the bucket.
    const onInbox = statements.filter((s) => JSON.stringify(s.Resource).includes(inbox));
    expect(onInbox.map((s) => s.Action).sort()).toEqual(['s3:GetObject', 's3:PutBucketNotification']);
    const read = onInbox.find((s) => s.Action === 's3:GetObject')!;
    expect(JSON.stringify(read.Resource)).toContain('/new/*');
    expect(JSON.stringify(onInbox.find((s) => s.Action !== 's3:GetObject')!.Resource)).toBe(
      JSON.stringify({ 'Fn::GetAtt': [inbox, 'Arn'] }),
    );
  });
});

describe('trigger inbox via SNS', () => {
  it('notifies a TLS-only topic of new objects; the topic has an HTTPS subscription to the hook with the secret', () => {
    const topic = idOf(sns, 'AWS::SNS::Topic', inInbox);
    sns.hasResourceProperties('Custom::S3BucketNotifications', {
      NotificationConfiguration: {
        TopicConfigurations: [{ Events: ['s3:ObjectCreated:*'], TopicArn: { Ref: topic } }],
      },
    });
    const sub = Object.entries(sns.findResources('AWS::SNS::Subscription') as Resources)
      .filter(([id]) => inInbox(id))
      .map(([, r]) => r);
    expect(sub).toHaveLength(1);
    expect(sub[0]!.Properties.Protocol).toBe('https');
    const endpoint = JSON.stringify(sub[0]!.Properties.Endpoint);
    expect(endpoint).toContain('https://cgm:{{resolve:secretsmanager:');
    expect(endpoint).toContain(`/v1/hooks/${TRIGGER}`);
    expect(endpoint).toContain('.execute-api.');
    const policy = JSON.stringify(sns.findResources('AWS::SNS::TopicPolicy'));
    expect(policy).toContain('aws:SecureTransport');
    expect(policy).toContain('ArnNotEquals');
    sns.resourceCountIs('AWS::Events::Rule', 0);
  });
});

describe('trigger inbox settings', () => {
  it('refuses a malformed trigger id', () => {
    expect(
      () => new CgmStack(new App(), 'Bad', { ...base, triggerInbox: { triggerId: 'my-trigger' } }),
    ).toThrow(/triggerId 'my-trigger': expected a trigger id/);
  });

  it('first deploy, without the trigger id: the named bucket the API may read, and nothing sending events yet', () => {
    const first = Template.fromStack(
      new CgmStack(new App(), 'BucketOnly', { ...base, triggerInbox: { bucketName: 'acme-cgm-inbox' } }),
    );
    const inbox = idOf(first, 'AWS::S3::Bucket', inInbox);
    first.hasResourceProperties('AWS::S3::Bucket', { BucketName: 'acme-cgm-inbox' });
    expect(apiFunctionVars(first).CGM_API_TRIGGER_BUCKETS).toEqual({ Ref: inbox });
    first.resourceCountIs('AWS::Events::Rule', 0);
    first.resourceCountIs('AWS::Events::ApiDestination', 0);
    first.resourceCountIs('Custom::S3BucketNotifications', 0);
    idOf(first, 'AWS::SecretsManager::Secret', inInbox);
  });

  it('adds nothing without a trigger inbox', () => {
    const plain = Template.fromStack(new CgmStack(new App(), 'Plain', base));
    plain.resourceCountIs('AWS::Events::Rule', 0);
    expect(Object.keys(plain.findResources('AWS::SNS::Topic')).filter(inInbox)).toEqual([]);
    expect(apiFunctionVars(plain).CGM_API_TRIGGER_BUCKETS).toBeUndefined();
  });
});
