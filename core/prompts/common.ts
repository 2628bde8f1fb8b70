// Pieces shared by the VLM prompts, and the names prompts are recorded under in the run manifest.

/** The sentence all three of the paper's prompts (Fig. 2, 3, 6) use to ask for bare JSON. */
export const JSON_ONLY =
  'You always respond with valid, well-formed JSON and nothing else — no prose, no markdown, no explanation outside the JSON object.';

/** Names of our prompt templates, as recorded with each VLM attempt. */
export const PROMPT_NAMES = ['describe', 'extract', 'manipulate', 'propagate', 'judge'] as const;
export type PromptName = (typeof PROMPT_NAMES)[number];
