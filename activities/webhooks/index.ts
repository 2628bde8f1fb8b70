// Webhook delivery for the light worker: Standard Webhooks signing, the URL policy, notifyWebhook.

export * from '../../core/webhooks/url-policy.js';
export * from './notify.js';
export * from './signing.js';
