// Paper Fig. 2, "Concept extractor prompt", verbatim (\rightarrow rendered as →, bullets as •).
import { JSON_ONLY } from './common.js';

export interface ExtractorPromptParams {
  /** The context description: the caption or the VLM's scene description (base prompt Y). */
  prompt: string;
}

export function extractorPrompt({ prompt }: ExtractorPromptParams): string {
  return `You are an expert in causal reasoning, computer vision, and semantic scene analysis. Your task is to analyse images and identify the underlying causal structure of the scene. ${JSON_ONLY} Carefully examine the provided image together with the following context description: <context> ${prompt} </context>
Your task has two parts:
PART 1 — CONCEPT EXTRACTION
First, identify 5 high-level semantic concepts visible in or strongly implied by the image. A concept should be a high-level attribute about the subject (e.g., age, gender, etc.). Then, for each, ask: what would change if I were to change this concept to a different value? Generate 2-3 additional concepts that would directly change as a result. Concepts should NOT be related to lighting or posture. For each concept record:
• id — short unique identifier (c1, c2, …)
• name — concise label (2-5 words)
• current_value — specific observable state (1–3 words)
• description — one sentence explanation
PART 2 — CAUSAL RELATIONSHIP DISCOVERY
Reason about which concepts causally influence others (A → B). Only include relationships that are causally plausible. Produce a directed acyclic graph (DAG). For each edge record:
• id — unique identifier (r1, r2, …)
• cause_id — id of the causing concept
• effect_id — id of the effected concept
• description — one sentence: how/why the cause produces the effect
Also provide a one-sentence scene_summary. Keep your answer short. Do NOT explain. Return ONLY the following JSON object:
{
  "concepts": [...],
  "relationships": [...],
  "scene_summary": "..."
}`;
}
