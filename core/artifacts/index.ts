export * from './errors.js';
export * from './s3-client.js';
export * from './store.js';
