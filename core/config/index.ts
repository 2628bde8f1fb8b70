export * from './config.js';
export * from './paper-defaults.js';
