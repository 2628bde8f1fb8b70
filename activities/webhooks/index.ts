// Webhook delivery for the light worker: Standard Webhooks signing, the URL policy, notifyWebhook.
export * from './notify.js';
export * from './signing.js';
export * from './url-policy.js';
