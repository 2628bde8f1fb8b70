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
  // -c triggerId=trg_… [-c triggerPrefix=new/] [-c triggerVia=sns]: an inbox bucket wired to that trigger.
  ...(app.node.tryGetContext('triggerId') && {
    triggerInbox: {
      triggerId: ctx('triggerId', ''),
      prefix: ctx('triggerPrefix', ''),
      via: triggerVia,
    },
  }),
});
app.synth();
