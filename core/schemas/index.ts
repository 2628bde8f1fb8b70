// Every cross-process type of the project, in one import (conventions: zod is the single source).
export * from '../graph/issues.js';
export * from './artifact.js';
export * from './edit-plan.js';
export * from './json-schema.js';
export * from './paper.js';
export * from './run-manifest.js';
