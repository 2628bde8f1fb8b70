// Every workflow the light worker serves (its workflowsPath).
export { type BatchCarry, batchProgressQuery, batchWorkflow } from './batch.js';
export { type CounterfactualResult, counterfactualWorkflow, progressQuery } from './counterfactual.js';
export { helloWorkflow } from './hello.js';
