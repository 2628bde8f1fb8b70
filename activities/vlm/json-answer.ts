// Pulls the JSON object out of a VLM answer. Servers with structured output return bare JSON; others
// (or a model ignoring the instruction) wrap it in prose, ```json fences, or Qwen3 <think> blocks.

export type JsonAnswer =
  | {
      ok: true;
      value: unknown /** How it was found; anything but 'bare' is worth recording. */;
      via: 'bare' | 'fence' | 'embedded';
    }
  | { ok: false; error: string };

export function parseJsonAnswer(content: string): JsonAnswer {
  const text = content.replace(/<think>[\s\S]*?<\/think>/g, '').trim();
  if (text === '') return { ok: false, error: 'the answer is empty; expected a JSON object' };
  const bare = tryParse(text);
  if (bare.ok) return { ok: true, value: bare.value, via: 'bare' };

  for (const m of text.matchAll(/```[a-zA-Z]*[ \t]*\r?\n?([\s\S]*?)```/g)) {
    const fenced = tryParse(m[1].trim());
    if (fenced.ok) return { ok: true, value: fenced.value, via: 'fence' };
  }
  for (const candidate of balancedObjects(text)) {
    const embedded = tryParse(candidate);
    if (embedded.ok) return { ok: true, value: embedded.value, via: 'embedded' };
  }
  const start = text.slice(0, 80).replace(/\s+/g, ' ');
  return {
    ok: false,
    error: `the answer is not valid JSON (${bare.error}); it starts with "${start}${text.length > 80 ? '…' : ''}"`,
  };
}

function tryParse(text: string): { ok: true; value: unknown } | { ok: false; error: string } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

/** Every top-level {...} span, found by brace counting that skips braces inside JSON strings. */
function* balancedObjects(text: string): Generator<string> {
  let i = text.indexOf('{');
  while (i !== -1) {
    let depth = 0;
    let inString = false;
    let end = -1;
    for (let j = i; j < text.length; j++) {
      const ch = text[j];
      if (inString) {
        if (ch === '\\') j++;
        else if (ch === '"') inString = false;
      } else if (ch === '"') inString = true;
      else if (ch === '{') depth++;
      else if (ch === '}' && --depth === 0) {
        end = j;
        break;
      }
    }
    if (end === -1) return;
    yield text.slice(i, end + 1);
    i = text.indexOf('{', end + 1);
  }
}
