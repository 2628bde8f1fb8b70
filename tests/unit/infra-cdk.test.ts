// The cloud deployment synthesises offline and its template keeps the security promises of
// docs/deployment.md: a private, encrypted, TLS-only bucket with lifecycle rules, and IAM scoped to it.
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { CgmRegistryStack, CgmStack, LIFECYCLE_DAYS } from '../../infra/cdk/stack.js';

type Statement = { Effect: string; Action: string | string[]; Resource: unknown; Principal?: unknown };

// Actions AWS cannot scope to a resource (ECS agent / ECR login / ASG drain hook made by CDK).
// Documented in infra/cdk/README.md; anything else on Resource '*' fails the test.
const STAR_RESOURCE_ALLOWED = new Set([
  'ecr:GetAuthorizationToken',
  'ecs:Poll',
  'ecs:StartTelemetrySession',
  'ecs:DiscoverPollEndpoint',
  'logs:CreateLogStream',
  'logs:PutLogEvents',
  'ec2:DescribeInstances',
  'ec2:DescribeInstanceAttribute',
  'ec2:DescribeInstanceStatus',
  'ec2:DescribeHosts',
  'ecs:DescribeContainerInstances',
  'ecs:DescribeTasks',
  'ecs:UpdateContainerInstancesState',
  'ecs:ListTasks',
]);

let template: Template;
let registry: Template;
let statements: Statement[];
let bucketLogicalId: string;

beforeAll(() => {
  const app = new App();
  const registryStack = new CgmRegistryStack(app, 'Registry');
  const stack = new CgmStack(app, 'Cgm', {
    imageTag: 'test-sha',
    temporalAddress: 'ns.acct.tmprl.cloud:7233',
    temporalNamespace: 'ns.acct',
    vlmBaseUrl: 'http://vlm.internal:8000/v1',
  });
  // One synth: both stacks exist before the first Template is made.
  template = Template.fromStack(stack);
  registry = Template.fromStack(registryStack);
  const policies = template.findResources('AWS::IAM::Policy');
  statements = Object.values(policies).flatMap(
    (p) =>
      (p as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument
        .Statement,
  );
  bucketLogicalId = Object.keys(template.findResources('AWS::S3::Bucket'))[0];
}, 120_000);

const actionsOf = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);
const resourcesOf = (s: Statement) => (Array.isArray(s.Resource) ? s.Resource : [s.Resource]);

describe('CDK stack (synth offline, no Docker build)', () => {
  it('has the expected resources', () => {
    template.resourceCountIs('AWS::S3::Bucket', 1);
    template.resourceCountIs('AWS::SecretsManager::Secret', 4);
    template.resourceCountIs('AWS::ECS::Service', 2);
    template.resourceCountIs('AWS::ECS::CapacityProvider', 1);
    template.resourceCountIs('AWS::ApiGatewayV2::Api', 1);
    template.resourceCountIs('AWS::ApplicationAutoScaling::ScalingPolicy', 2);
    template.resourceCountIs('AWS::AutoScaling::LaunchConfiguration', 0);
    template.hasResourceProperties('AWS::ECS::Service', { LaunchType: 'FARGATE' });
    template.hasResourceProperties('AWS::ECS::Service', {
      CapacityProviderStrategy: [Match.objectLike({ Weight: 1 })],
    });
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({ InstanceType: 'g5.2xlarge' }),
    });
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [
        Match.objectLike({ Command: ['worker', 'gpu'], ResourceRequirements: [{ Type: 'GPU', Value: '1' }] }),
      ],
    });
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [Match.objectLike({ Command: ['worker', 'light'] })],
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      PackageType: 'Image',
      ImageConfig: { Command: ['api'] },
    });
    registry.resourceCountIs('AWS::ECR::Repository', 2);
    registry.hasResourceProperties('AWS::ECR::Repository', { ImageTagMutability: 'IMMUTABLE' });
  });

  it('runs the API Lambda on the light image (Node 24, compiled JavaScript), no Node managed runtime', () => {
    const fns = Object.values(template.findResources('AWS::Lambda::Function')) as {
      Properties: { PackageType?: string; Runtime?: string; ImageConfig?: { Command?: string[] } };
    }[];
    const api = fns.filter((f) => f.Properties.PackageType === 'Image');
    expect(api).toHaveLength(1);
    expect(api[0].Properties.ImageConfig?.Command).toEqual(['api']);
    // CDK's own helpers (the ASG drain hook) may bring zip functions; none of them may be on an old Node.
    const nodeRuntimes = fns.map((f) => f.Properties.Runtime).filter((r) => r?.startsWith('nodejs'));
    for (const runtime of nodeRuntimes)
      expect(Number(/^nodejs(\d+)/.exec(runtime ?? '')?.[1])).toBeGreaterThanOrEqual(24);
  });

  it('keeps the bucket private, encrypted and TLS-only', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    const bucketPolicies = template.findResources('AWS::S3::BucketPolicy');
    for (const p of Object.values(bucketPolicies)) {
      const sts = (p as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties
        .PolicyDocument.Statement;
      expect(sts.filter((s) => s.Effect === 'Allow')).toEqual([]);
    }
  });

  it('expires tmp/ and inversion caches and aborts stale multipart uploads', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ Prefix: 'tmp/', ExpirationInDays: LIFECYCLE_DAYS.tmp, Status: 'Enabled' }),
          Match.objectLike({ Prefix: 'inversions/', ExpirationInDays: LIFECYCLE_DAYS.inversions }),
          Match.objectLike({
            AbortIncompleteMultipartUpload: { DaysAfterInitiation: LIFECYCLE_DAYS.abortMultipart },
          }),
        ]),
      },
    });
  });

  it('scopes every S3 permission to the artifact bucket (or its objects / a prefix)', () => {
    const s3 = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('s3:')));
    expect(s3.length).toBeGreaterThanOrEqual(6);
    for (const s of s3) {
      expect(
        actionsOf(s).every((a) =>
          ['s3:GetObject', 's3:PutObject', 's3:ListBucket', 's3:DeleteObject'].includes(a),
        ),
      ).toBe(true);
      for (const r of resourcesOf(s)) {
        const text = JSON.stringify(r);
        expect(text).toContain(bucketLogicalId);
        expect(text).toMatch(/"Arn"\]\}(,"\/(\*|uploads\/\*|triggers\/\*)")?\]?\]?\}?$|"Arn"\]\}$/);
      }
      // Deleting is the API's, for trigger records only.
      if (actionsOf(s).includes('s3:DeleteObject'))
        expect(JSON.stringify(s.Resource)).toContain('/triggers/*');
    }
    // The API may write uploads only.
    const apiPut = s3.filter(
      (s) => actionsOf(s).includes('s3:PutObject') && JSON.stringify(s.Resource).includes('/uploads/*'),
    );
    expect(apiPut).toHaveLength(1);
  });

  it('uses no wildcard actions and no Resource "*" beyond what AWS requires', () => {
    for (const s of statements) {
      for (const a of actionsOf(s)) {
        expect(a).not.toBe('*');
        expect(a.endsWith(':*')).toBe(false);
      }
      if (resourcesOf(s).includes('*')) {
        for (const a of actionsOf(s)) expect(STAR_RESOURCE_ALLOWED, `${a} on *`).toContain(a);
      }
    }
  });

  it("reads secrets only from the stack's own Secrets Manager secrets", () => {
    const secretStatements = statements.filter((s) =>
      actionsOf(s).some((a) => a.startsWith('secretsmanager:')),
    );
    expect(secretStatements.length).toBeGreaterThan(0);
    const secretIds = Object.keys(template.findResources('AWS::SecretsManager::Secret'));
    for (const s of secretStatements) {
      for (const r of resourcesOf(s)) expect(secretIds).toContain((r as { Ref?: string }).Ref);
    }
  });

  it('gives the API Lambda its secrets as CGM_X_SECRET_ARN references the process resolves', () => {
    const fns = Object.values(template.findResources('AWS::Lambda::Function')) as {
      Properties: { Environment?: { Variables?: Record<string, unknown> } };
    }[];
    const api = fns.find((f) => f.Properties.Environment?.Variables?.CGM_API_HOST !== undefined);
    const vars = api?.Properties.Environment?.Variables ?? {};
    const refs = Object.keys(vars).filter((k) => k.endsWith('_SECRET_ARN'));
    expect(refs.sort()).toEqual([
      'CGM_API_KEY_SHA256_SECRET_ARN',
      'CGM_TEMPORAL_API_KEY_SECRET_ARN',
      'CGM_WEBHOOK_SECRET_SECRET_ARN',
    ]);
    const secretIds = Object.keys(template.findResources('AWS::SecretsManager::Secret'));
    // Each value is the secret's Ref, the Temporal one joined with '#apiKey' (its JSON key).
    const temporal = JSON.stringify(vars.CGM_TEMPORAL_API_KEY_SECRET_ARN);
    expect(temporal).toContain('#apiKey');
    expect(secretIds.some((id) => temporal.includes(`"Ref":"${id}"`))).toBe(true);
    expect(secretIds).toContain((vars.CGM_API_KEY_SHA256_SECRET_ARN as { Ref?: string }).Ref);
    // The API derives each key's webhook secret (GET /v1/webhook-secret) from the workers' signing secret.
    expect(secretIds).toContain((vars.CGM_WEBHOOK_SECRET_SECRET_ARN as { Ref?: string }).Ref);
    // The secrets are never plain environment values.
    expect(vars.CGM_TEMPORAL_API_KEY).toBeUndefined();
    expect(vars.CGM_API_KEY_SHA256).toBeUndefined();
    expect(vars.CGM_WEBHOOK_SECRET).toBeUndefined();
  });

  it('sets a retention on every log group', () => {
    const groups = Object.values(template.findResources('AWS::Logs::LogGroup'));
    expect(groups.length).toBe(3);
    for (const g of groups)
      expect((g as { Properties: { RetentionInDays?: number } }).Properties.RetentionInDays).toBe(30);
  });
});
