// Paper §5.1 step 1 ("Visual Description ... to obtain a base prompt Y"). The paper gives no wording;
// this one is ours: a single caption that can serve as the SDXL source prompt for inversion.

/** Our scene-description prompt; the answer is plain text (not JSON), used as the base prompt Y. */
export function sceneDescriptionPrompt(): string {
  return [
    'Describe the scene in this image in one paragraph, as a caption that could be used as a prompt for a text-to-image model (Stable Diffusion XL) to generate a similar image.',
    'Name the main subject and its visible attributes, the setting and background, and the overall style (photograph, painting, etc.).',
    'Describe only what is visible. Use at most 60 words. Reply with the caption only — no title, no quotation marks, no lists, no markdown.',
  ].join('\n');
}
