// An "inbox" bucket whose new objects start counterfactual runs through a trigger of the API (issue
// #20): S3 ObjectCreated events go to POST /v1/hooks/{triggerId}, either through EventBridge (a rule on
// the bucket's events → an API destination whose connection sends the trigger secret in
// x-cgm-trigger-secret) or through SNS (an S3 event notification → a topic → an HTTPS subscription
// whose URL carries the secret as the Basic password; the API confirms the subscription itself).
// Two deploys (docs/deployment.md §7): the first makes the bucket and lets the API read it, so a trigger
// naming it can be created (`cgm triggers create`, source kind s3-events); its secret goes into the
// Secrets Manager secret made here, and the second deploy, given the trigger id, wires the events.
import {
  Duration,
  aws_events as events,
  aws_events_targets as eventTargets,
  aws_iam as iam,
  RemovalPolicy,
  SecretValue,
  Stack,
  aws_s3 as s3,
  aws_s3_notifications as s3n,
  aws_secretsmanager as secrets,
  aws_sns as sns,
  aws_sns_subscriptions as subs,
} from 'aws-cdk-lib';
import { Construct } from 'constructs';

export type TriggerDelivery = 'eventbridge' | 'sns';

export interface TriggerInboxProps {
  /** The inbox bucket's name (S3 names are global); default: one CloudFormation makes up. */
  readonly bucketName?: string;
  /** The s3-events trigger that receives the events (trg_…); without it, nothing sends events yet. */
  readonly triggerId?: string;
  /** Only keys under this prefix start runs (default: every key). */
  readonly prefix?: string;
  /** How events reach the API (default eventbridge). */
  readonly via?: TriggerDelivery;
  /** The API's HTTP API: id and stage-less https endpoint. */
  readonly httpApi: { apiId: string; apiEndpoint: string };
  /** Largest number of deliveries a second the API destination may send (EventBridge only). */
  readonly ratePerSecond?: number;
}

export const TRIGGER_ID_PATTERN = /^trg_[0-9a-f]{24}$/;
/** Header of the EventBridge connection's API key authorisation (api/triggers/verify.ts reads it). */
export const TRIGGER_SECRET_HEADER = 'x-cgm-trigger-secret';

export class TriggerInbox extends Construct {
  readonly bucket: s3.Bucket;
  /** Holds the trigger secret (whsec_…) as plain text; the operator puts it there after creating the trigger. */
  readonly secret: secrets.Secret;

  constructor(scope: Construct, id: string, props: TriggerInboxProps) {
    super(scope, id);
    const { triggerId } = props;
    if (triggerId !== undefined && !TRIGGER_ID_PATTERN.test(triggerId))
      throw new Error(`triggerId '${triggerId}': expected a trigger id such as trg_0123456789abcdef01234567`);
    const via = props.via ?? 'eventbridge';
    const prefix = props.prefix ?? '';
    const stack = Stack.of(this);

    this.bucket = new s3.Bucket(this, 'Bucket', {
      ...(props.bucketName && { bucketName: props.bucketName }),
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: RemovalPolicy.RETAIN,
      eventBridgeEnabled: via === 'eventbridge' && triggerId !== undefined,
    });
    this.secret = new secrets.Secret(this, 'TriggerSecret', {
      description: 'the inbox trigger’s secret (whsec_…, shown once by cgm triggers create)',
      removalPolicy: RemovalPolicy.RETAIN,
    });
    if (triggerId === undefined) return;
    const hookPath = `/v1/hooks/${triggerId}`;

    if (via === 'eventbridge') {
      const connection = new events.Connection(this, 'Connection', {
        description: `sends the secret of trigger ${triggerId}`,
        authorization: events.Authorization.apiKey(
          TRIGGER_SECRET_HEADER,
          SecretValue.secretsManager(this.secret.secretArn),
        ),
      });
      const destination = new events.ApiDestination(this, 'Destination', {
        connection,
        endpoint: `${props.httpApi.apiEndpoint}${hookPath}`,
        httpMethod: events.HttpMethod.POST,
        rateLimitPerSecond: props.ratePerSecond ?? 5,
      });
      new events.Rule(this, 'ObjectCreated', {
        description: `new objects of the inbox bucket → trigger ${triggerId}`,
        eventPattern: {
          source: ['aws.s3'],
          detailType: ['Object Created'],
          detail: {
            bucket: { name: [this.bucket.bucketName] },
            ...(prefix && { object: { key: [{ prefix }] } }),
          },
        },
        // EventBridge retries 429 and 5xx answers; the run id comes from the object's sequencer and
        // key, so a retried event never starts a second run.
        targets: [
          new eventTargets.ApiDestination(destination, {
            retryAttempts: 20,
            maxEventAge: Duration.hours(24),
          }),
        ],
      });
    } else {
      const topic = new sns.Topic(this, 'Topic', { enforceSSL: true });
      this.bucket.addEventNotification(
        s3.EventType.OBJECT_CREATED,
        new s3n.SnsDestination(topic),
        ...(prefix ? [{ prefix }] : []),
      );
      // The secret rides in the URL as the Basic password (SNS supports credentials in HTTPS
      // endpoints); CloudFormation resolves it at deploy time, it is never in the template.
      const host = `${props.httpApi.apiId}.execute-api.${stack.region}.${stack.urlSuffix}`;
      const password = SecretValue.secretsManager(this.secret.secretArn).unsafeUnwrap();
      topic.addSubscription(
        new subs.UrlSubscription(`https://cgm:${password}@${host}${hookPath}`, {
          protocol: sns.SubscriptionProtocol.HTTPS,
        }),
      );
      // Only this bucket may publish to the topic (the notification adds the grant; this keeps others out).
      topic.addToResourcePolicy(
        new iam.PolicyStatement({
          effect: iam.Effect.DENY,
          principals: [new iam.AnyPrincipal()],
          actions: ['sns:Publish'],
          resources: [topic.topicArn],
          conditions: { ArnNotEquals: { 'aws:SourceArn': this.bucket.bucketArn } },
        }),
      );
    }
  }

  /** Lets the API read new images (and nothing else) from the inbox. */
  grantApiRead(grantee: iam.IGrantable, prefix = ''): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [this.bucket.arnForObjects(`${prefix}*`)],
      }),
    );
  }
}
