// The VLM prompts: the paper's Fig. 2, 3 and 6 verbatim, and ours where the paper gives none.
export { JSON_ONLY, PROMPT_NAMES, type PromptName } from './common.js';
export { sceneDescriptionPrompt } from './describe.js';
export { type ExtractorPromptParams, extractorPrompt } from './extractor.js';
export {
  type ChecklistItem,
  checklistFor,
  type JudgePromptParams,
  judgePrompt,
  renderChecklist,
} from './judge.js';
export {
  DEFAULT_INTERVENTION_COUNT,
  type ManipulatorPromptParams,
  manipulatorParamsFromGraph,
  manipulatorPrompt,
  type UserInterventionPromptParams,
  userInterventionPrompt,
} from './manipulator.js';
