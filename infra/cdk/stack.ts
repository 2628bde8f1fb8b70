// Cloud deployment of FM-CGM in the design card's spirit: API as a Lambda behind an HTTP API,
// light workers on Fargate, GPU workers on an EC2 GPU capacity provider, one private artifact
// bucket, secrets in Secrets Manager, least-privilege roles. Synthesises offline: no context
// lookups and no Docker builds (images are pushed to the registry stack's ECR repositories by CI,
// docs/deployment.md §4).
import {
  aws_apigatewayv2 as apigw,
  aws_apigatewayv2_integrations as apigwInt,
  aws_autoscaling as autoscaling,
  CfnOutput,
  Duration,
  aws_ec2 as ec2,
  aws_ecr as ecr,
  aws_ecs as ecs,
  aws_iam as iam,
  aws_lambda as lambda,
  aws_logs as logs,
  RemovalPolicy,
  Stack,
  type StackProps,
  aws_s3 as s3,
  aws_secretsmanager as secrets,
} from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { TriggerInbox, type TriggerInboxProps } from './trigger-inbox.js';

export const REPOSITORY_NAMES = { light: 'fm-cgm/light', gpu: 'fm-cgm/gpu' } as const;

/** ECR repositories, in their own stack so images can be pushed before the services exist. */
export class CgmRegistryStack extends Stack {
  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);
    for (const [kind, name] of Object.entries(REPOSITORY_NAMES)) {
      new ecr.Repository(this, `${kind}Repository`, {
        repositoryName: name,
        imageScanOnPush: true,
        imageTagMutability: ecr.TagMutability.IMMUTABLE,
        encryption: ecr.RepositoryEncryption.AES_256,
        lifecycleRules: [{ maxImageCount: 20, description: 'keep the last 20 images' }],
        removalPolicy: RemovalPolicy.RETAIN,
      });
    }
  }
}

export interface CgmStackProps extends StackProps {
  /** Immutable image tag pushed to both repositories (e.g. the git sha). */
  readonly imageTag: string;
  readonly temporalAddress: string; // e.g. <ns>.<account>.tmprl.cloud:7233
  readonly temporalNamespace: string;
  /** OpenAI-compatible VLM endpoint (vLLM serving Qwen3-VL-30B-A3B-Instruct). */
  readonly vlmBaseUrl: string;
  /** s3://<bucket>/models/<name>/ is synced by the GPU entrypoint; key below `models/`. */
  readonly modelPrefix?: string;
  readonly gpuInstanceType?: string; // g5.2xlarge (A10G 24 GB) by default; g6e for 48 GB
  readonly gpuMaxCapacity?: number;
  readonly lightMaxCapacity?: number;
  /** An inbox bucket whose new objects start runs through this s3-events trigger (trigger-inbox.ts). */
  readonly triggerInbox?: Omit<TriggerInboxProps, 'httpApi'>;
}

/** Days before short-lived objects expire (lifecycle rules). */
export const LIFECYCLE_DAYS = { tmp: 1, inversions: 30, abortMultipart: 2 } as const;
export const LOG_RETENTION = logs.RetentionDays.ONE_MONTH;

export class CgmStack extends Stack {
  readonly bucket: s3.Bucket;
  readonly triggerInbox?: TriggerInbox;

  constructor(scope: Construct, id: string, props: CgmStackProps) {
    super(scope, id, props);
    // New AWS accounts can no longer create launch configurations: make the ASG use a launch template.
    this.node.setContext('@aws-cdk/aws-autoscaling:generateLaunchTemplateInsteadOfLaunchConfig', true);
    const modelPrefix = props.modelPrefix ?? 'models/sdxl-base-1.0/';

    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 1,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC },
        { name: 'private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      ],
    });
    // S3 traffic stays off the NAT (model bundles are tens of GB).
    vpc.addGatewayEndpoint('S3Endpoint', { service: ec2.GatewayVpcEndpointAwsService.S3 });

    this.bucket = new s3.Bucket(this, 'Artifacts', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        { id: 'tmp', prefix: 'tmp/', expiration: Duration.days(LIFECYCLE_DAYS.tmp) },
        // Inversion caches are recomputable (content-addressed); keep them a month.
        { id: 'inversions', prefix: 'inversions/', expiration: Duration.days(LIFECYCLE_DAYS.inversions) },
        {
          id: 'abort-multipart',
          abortIncompleteMultipartUploadAfter: Duration.days(LIFECYCLE_DAYS.abortMultipart),
        },
      ],
    });

    const secret = (sid: string, description: string) =>
      new secrets.Secret(this, sid, { description, removalPolicy: RemovalPolicy.RETAIN });
    const temporalSecret = secret(
      'TemporalCloud',
      'Temporal Cloud API key (or mTLS cert/key) as JSON: {"apiKey":..}',
    );
    const apiKeysSecret = secret(
      'ApiKeys',
      'comma-separated sha256 digests of accepted API keys (CGM_API_KEY_SHA256)',
    );
    const webhookSecret = secret('WebhookSigning', 'whsec_<base64> webhook signing key (CGM_WEBHOOK_SECRET)');
    const vlmSecret = secret('VlmApiKey', 'API key of the VLM endpoint (CGM_VLM_API_KEY)');

    const commonEnv = {
      CGM_TEMPORAL_ADDRESS: props.temporalAddress,
      CGM_TEMPORAL_NAMESPACE: props.temporalNamespace,
      CGM_S3_BUCKET: this.bucket.bucketName,
      CGM_S3_REGION: this.region,
      CGM_S3_ENDPOINT: `https://s3.${this.region}.amazonaws.com`,
      CGM_S3_FORCE_PATH_STYLE: 'false',
      CGM_LOG_LEVEL: 'info',
    };

    const lightRepo = ecr.Repository.fromRepositoryName(this, 'LightRepo', REPOSITORY_NAMES.light);
    const gpuRepo = ecr.Repository.fromRepositoryName(this, 'GpuRepo', REPOSITORY_NAMES.gpu);
    const cluster = new ecs.Cluster(this, 'Cluster', {
      vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });

    // ---- light workers: Fargate, CPU autoscaling
    const lightTask = new ecs.FargateTaskDefinition(this, 'LightTask', { cpu: 1024, memoryLimitMiB: 2048 });
    lightTask.addContainer('light', {
      image: ecs.ContainerImage.fromEcrRepository(lightRepo, props.imageTag),
      command: ['worker', 'light'],
      environment: { ...commonEnv, CGM_VLM_BASE_URL: props.vlmBaseUrl },
      secrets: {
        CGM_TEMPORAL_API_KEY: ecs.Secret.fromSecretsManager(temporalSecret, 'apiKey'),
        CGM_WEBHOOK_SECRET: ecs.Secret.fromSecretsManager(webhookSecret),
        CGM_VLM_API_KEY: ecs.Secret.fromSecretsManager(vlmSecret),
      },
      logging: ecs.LogDrivers.awsLogs({
        streamPrefix: 'light',
        logGroup: new logs.LogGroup(this, 'LightLogs', {
          retention: LOG_RETENTION,
          removalPolicy: RemovalPolicy.DESTROY,
        }),
      }),
    });
    const lightService = new ecs.FargateService(this, 'LightService', {
      cluster,
      taskDefinition: lightTask,
      desiredCount: 1,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      circuitBreaker: { rollback: true },
    });
    lightService
      .autoScaleTaskCount({ minCapacity: 1, maxCapacity: props.lightMaxCapacity ?? 10 })
      .scaleOnCpuUtilization('LightCpu', { targetUtilizationPercent: 60 });

    // ---- GPU workers: ECS on an EC2 GPU Auto Scaling group (capacity provider)
    const gpuAsg = new autoscaling.AutoScalingGroup(this, 'GpuAsg', {
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      instanceType: new ec2.InstanceType(props.gpuInstanceType ?? 'g5.2xlarge'),
      // ECS GPU-optimised AMI, resolved from the public SSM parameter at deploy time (no lookup).
      machineImage: ecs.EcsOptimizedImage.amazonLinux2023(ecs.AmiHardwareType.GPU),
      minCapacity: 0,
      maxCapacity: props.gpuMaxCapacity ?? 4,
      requireImdsv2: true,
      blockDevices: [
        { deviceName: '/dev/xvda', volume: autoscaling.BlockDeviceVolume.ebs(200, { encrypted: true }) },
      ],
      newInstancesProtectedFromScaleIn: false,
    });
    const gpuCapacity = new ecs.AsgCapacityProvider(this, 'GpuCapacity', {
      autoScalingGroup: gpuAsg,
      enableManagedScaling: true,
      enableManagedTerminationProtection: false,
      targetCapacityPercent: 100,
    });
    cluster.addAsgCapacityProvider(gpuCapacity);

    const gpuTask = new ecs.Ec2TaskDefinition(this, 'GpuTask', { networkMode: ecs.NetworkMode.AWS_VPC });
    gpuTask.addContainer('gpu', {
      image: ecs.ContainerImage.fromEcrRepository(gpuRepo, props.imageTag),
      command: ['worker', 'gpu'],
      gpuCount: 1,
      memoryReservationMiB: 24_000,
      environment: {
        ...commonEnv,
        CGM_ENGINE_DEVICE: 'cuda',
        CGM_MODEL_DIR: '/models/bundle',
        CGM_MODEL_S3_URI: this.bucket.s3UrlForObject(modelPrefix),
      },
      secrets: { CGM_TEMPORAL_API_KEY: ecs.Secret.fromSecretsManager(temporalSecret, 'apiKey') },
      logging: ecs.LogDrivers.awsLogs({
        streamPrefix: 'gpu',
        logGroup: new logs.LogGroup(this, 'GpuLogs', {
          retention: LOG_RETENTION,
          removalPolicy: RemovalPolicy.DESTROY,
        }),
      }),
    });
    const gpuService = new ecs.Ec2Service(this, 'GpuService', {
      cluster,
      taskDefinition: gpuTask,
      desiredCount: 1,
      capacityProviderStrategies: [{ capacityProvider: gpuCapacity.capacityProviderName, weight: 1 }],
      circuitBreaker: { rollback: true },
    });
    // GPU load is not visible as task CPU; scale on GPU-worker CPU as a proxy plus a schedule-free
    // ceiling. docs/deployment.md §5 explains scaling on Temporal backlog instead.
    gpuService
      .autoScaleTaskCount({ minCapacity: 1, maxCapacity: props.gpuMaxCapacity ?? 4 })
      .scaleOnCpuUtilization('GpuCpu', { targetUtilizationPercent: 50 });

    // ---- API: container-image Lambda (Lambda Web Adapter runs `cgm api`) behind an HTTP API. Its Node
    // is the light image's (Dockerfile.light: Node 24, compiled JavaScript), not a Lambda managed runtime.
    const apiLogs = new logs.LogGroup(this, 'ApiLogs', {
      retention: LOG_RETENTION,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const apiFn = new lambda.DockerImageFunction(this, 'ApiFunction', {
      code: lambda.DockerImageCode.fromEcr(lightRepo, { tagOrDigest: props.imageTag, cmd: ['api'] }),
      architecture: lambda.Architecture.X86_64,
      memorySize: 1024,
      timeout: Duration.seconds(29),
      logGroup: apiLogs,
      environment: {
        ...commonEnv,
        CGM_API_HOST: '0.0.0.0',
        CGM_API_PORT: '8787',
        // Lambda has no secret injection: `cgm` resolves CGM_X_SECRET_ARN into CGM_X at start
        // (core/config/secret-refs.ts); '#apiKey' picks the key of the JSON secret.
        CGM_TEMPORAL_API_KEY_SECRET_ARN: `${temporalSecret.secretArn}#apiKey`,
        CGM_API_KEY_SHA256_SECRET_ARN: apiKeysSecret.secretArn,
        // GET /v1/webhook-secret derives each key's signing secret from it, as the light worker does.
        CGM_WEBHOOK_SECRET_SECRET_ARN: webhookSecret.secretArn,
      },
    });
    const httpApi = new apigw.HttpApi(this, 'HttpApi', {
      defaultIntegration: new apigwInt.HttpLambdaIntegration('ApiIntegration', apiFn),
    });

    // ---- least-privilege grants
    const objects = (prefix = '*') => this.bucket.arnForObjects(prefix);
    const rw = (role: iam.IGrantable) => {
      role.grantPrincipal.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['s3:GetObject', 's3:PutObject'], resources: [objects()] }),
      );
      role.grantPrincipal.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [this.bucket.bucketArn] }),
      );
    };
    rw(lightTask.taskRole);
    rw(gpuTask.taskRole);
    // API: uploads only; reads any artifact (it signs presigned GET URLs with its own role).
    apiFn.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['s3:PutObject'], resources: [objects('uploads/*')] }),
    );
    apiFn.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [objects()] }));
    // Triggers (api/triggers/store.ts): their definitions, owner markers and run records.
    apiFn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['s3:PutObject', 's3:DeleteObject'],
        resources: [objects('triggers/*')],
      }),
    );
    apiFn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [this.bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': ['triggers/*'] } },
      }),
    );
    if (props.triggerInbox) {
      this.triggerInbox = new TriggerInbox(this, 'TriggerInbox', { ...props.triggerInbox, httpApi });
      this.triggerInbox.grantApiRead(apiFn, props.triggerInbox.prefix);
      apiFn.addEnvironment('CGM_API_TRIGGER_BUCKETS', this.triggerInbox.bucket.bucketName);
      new CfnOutput(this, 'TriggerInboxBucket', { value: this.triggerInbox.bucket.bucketName });
      new CfnOutput(this, 'TriggerSecretArn', { value: this.triggerInbox.secret.secretArn });
    }
    temporalSecret.grantRead(apiFn);
    apiKeysSecret.grantRead(apiFn);
    webhookSecret.grantRead(apiFn);

    new CfnOutput(this, 'ApiUrl', { value: httpApi.apiEndpoint });
    new CfnOutput(this, 'BucketName', { value: this.bucket.bucketName });
    new CfnOutput(this, 'ClusterName', { value: cluster.clusterName });
    new CfnOutput(this, 'GpuServiceName', { value: gpuService.serviceName });
  }
}
