// The causal graph: validation, repair into a DAG, reachability, intervention checks, edit planning.
export { checkIntervention } from './check-intervention.js';
export {
  ancestors,
  CyclicGraphError,
  childrenOf,
  conceptIds,
  descendants,
  nonDescendants,
  shortestPath,
  topologicalOrder,
  UnknownConceptError,
} from './dag.js';
export * from './issues.js';
export { CSG_EDIT_DEFAULTS, DEFAULT_EDIT_CHOICES, type PlanEditsOptions, planEdits } from './plan-edits.js';
export { type GraphRepairResult, repairGraph } from './repair.js';
export { type GraphValidation, validateGraph } from './validate.js';
