// Evaluation (paper §6): data set loaders, seeded sampling, batch manifests, per-counterfactual
// records and the Table 1 report. Workflow code should import the pure modules directly (sampling,
// results, report, batch-manifest): this index pulls in node:fs through the loaders. The picture
// (grid.ts, sharp) is imported on its own.
export * from './batch-manifest.js';
export * from './datasets/index.js';
export { JsonlError, parseJsonl, parseJsonlLines, toJsonl } from './jsonl.js';
export * from './report.js';
export * from './results.js';
export * from './sampling.js';
