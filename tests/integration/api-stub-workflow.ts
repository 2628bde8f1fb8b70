// Stands in for workflows/counterfactual.ts in the API's integration test (same type name and
// progress query): answers progress, returns a result holding ArtifactRefs, and sends the signed
// completion webhook through the real notifyWebhook activity. caption 'wait' blocks until cancelled.
import { condition, defineQuery, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { WebhookActivities } from '../../activities/webhooks/notify.js';
import type { CounterfactualInput } from '../../core/schemas/workflow-io.js';

export const progressQuery = defineQuery<{ stage: string }>('progress');

const { notifyWebhook } = proxyActivities<WebhookActivities>({
  startToCloseTimeout: '20s',
  retry: {
    initialInterval: '200ms',
    backoffCoefficient: 1,
    maximumAttempts: 5,
    nonRetryableErrorTypes: ['WebhookRejected', 'WebhookUrlForbidden'],
  },
});

export async function counterfactualWorkflow(input: CounterfactualInput) {
  let stage = 'describe';
  setHandler(progressQuery, () => ({ stage }));
  if (input.caption === 'wait') await condition(() => false);
  stage = 'notify';
  const result = {
    outputs: [{ interventionId: 'i1', method: input.methods[0], image: input.image, masks: [] }],
  };
  const { workflowId } = workflowInfo();
  if (input.webhook)
    await notifyWebhook({
      url: input.webhook.url,
      id: `${workflowId}:completed`,
      event: {
        type: 'counterfactual.completed',
        timestamp: new Date().toISOString(),
        data: { id: workflowId, status: 'succeeded' },
      },
    });
  return result;
}
