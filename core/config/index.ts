export * from './config.js';
export * from './paper-defaults.js';
export * from './secret-refs.js';
export * from './temporal-connection.js';
