// CDK app: `npx cdk synth --app "npx tsx infra/cdk/app.ts"` (docs/deployment.md §4).
// Settings come from context (-c key=value) so synth needs no environment and no lookups.
import { App } from 'aws-cdk-lib';
import { CgmRegistryStack, CgmStack } from './stack.js';

const app = new App();
const triggerVia = String(app.node.tryGetContext('triggerVia') ?? 'eventbridge');
if (triggerVia !== 'eventbridge' && triggerVia !== 'sns')
  throw new Error(`-c triggerVia=${triggerVia}: expected eventbridge or sns`);
const ctx = (key: string, fallback: string): string => String(app.node.tryGetContext(key) ?? fallback);
const env = process.env.CDK_DEFAULT_ACCOUNT
  ? { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION }
  : undefined;

new CgmRegistryStack(app, 'FmCgmRegistry', { env });
new CgmStack(app, 'FmCgm', {
  env,
  imageTag: ctx('imageTag', 'dev'),
  temporalAddress: ctx('temporalAddress', 'my-namespace.a1b2c.tmprl.cloud:7233'),
  temporalNamespace: ctx('temporalNamespace', 'my-namespace.a1b2c'),
  vlmBaseUrl: ctx('vlmBaseUrl', 'http://vlm.internal:8000/v1'),
  gpuInstanceType: ctx('gpuInstanceType', 'g5.2xlarge'),
  gpuMaxCapacity: Number(ctx('gpuMaxCapacity', '4')),
  // -c triggerBucket=NAME [-c triggerPrefix=new/]: an inbox bucket the API may read; add
  // -c triggerId=trg_… [-c triggerVia=sns] to send its new objects to that trigger (docs/deployment.md §7).
  ...((app.node.tryGetContext('triggerBucket') || app.node.tryGetContext('triggerId')) && {
    triggerInbox: {
      bucketName: app.node.tryGetContext('triggerBucket'),
      triggerId: app.node.tryGetContext('triggerId'),
      prefix: ctx('triggerPrefix', ''),
      via: triggerVia,
    },
  }),
});
app.synth();
