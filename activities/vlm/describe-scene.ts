// Paper §5.1 step 1: a scene description used as the base prompt Y when no caption is given.
import { sceneDescriptionPrompt } from '../../core/prompts/describe.js';
import type { VlmAttempt } from '../../core/schemas/run-manifest.js';
import type { VlmContext } from './context.js';
import { type ImageInput, prepareImage } from './image-input.js';
import { validatedCall } from './validated-call.js';

export interface DescribeSceneResult {
  /** The description, cleaned of quotes / "Caption:" prefixes / markdown emphasis. */
  text: string;
  attempts: VlmAttempt[];
}

export async function describeScene(
  ctx: VlmContext,
  input: { image: ImageInput },
): Promise<DescribeSceneResult> {
  const image = await prepareImage(input.image);
  const { value, attempts } = await validatedCall({
    ...ctx,
    prompt: 'describe',
    text: sceneDescriptionPrompt(),
    imageUrl: image.url,
    check: (answer) => {
      const text = cleanDescription(String(answer));
      return text === ''
        ? { ok: false, error: 'the description is empty; expected one paragraph describing the image' }
        : { ok: true, value: text };
    },
  });
  return { text: value, attempts };
}

/** Models often wrap a caption anyway; Y goes straight into the SDXL prompt, so unwrap it. */
export function cleanDescription(answer: string): string {
  let t = answer.replace(/<think>[\s\S]*?<\/think>/g, '').trim();
  t = t.replace(/^#+\s*/gm, '').replace(/\*\*|__/g, '');
  t = t.replace(/^(caption|description|scene description)\s*:\s*/i, '');
  t = t.replace(/^["'“”]+|["'“”]+$/g, '');
  return t.replace(/\s+/g, ' ').trim();
}
