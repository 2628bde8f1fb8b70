// Captions of street-world scenes, ported from world/cgm_world/captions.py (TEMPLATES and caption(); the
// training mix stays in Python). Every caption names every attribute with its scm.json phrase, the same
// phrase the concept graph uses as current_value, so a caption and a concept graph always agree.
// Keep the templates identical to the Python ones: the world model was trained on those captions.
import { WorldInputError } from './errors.js';
import { checkAttributes, type WorldAttributes, type WorldScm } from './scm.js';

/** captions.py TEMPLATES, verbatim; `{id}` is the phrase of attribute `id`. */
export const CAPTION_TEMPLATES = [
  'a {car_color} on a {road} on a {weather} {season} {time_of_day}, {sky}, {foliage}, ' +
    'a person with {umbrella}, {lamp}',
  'a street at {time_of_day} in {season}: {weather}, {sky}, a {foliage}, a {lamp}, a {car_color} ' +
    'on a {road}, a person with {umbrella}',
  '{sky} over a street, {weather}, {season}, {time_of_day}, {foliage}, {lamp}, a person with {umbrella}, ' +
    '{car_color}, {road}',
] as const;

/** Attribute id → the phrase of its value (captions.py phrases()). */
export function captionPhrases(scm: WorldScm, attributes: WorldAttributes): Record<string, string> {
  checkAttributes(scm, attributes);
  return Object.fromEntries(scm.attributes.map((a) => [a.id, a.phrases[attributes[a.id]]]));
}

/**
 * captions.py caption(): template `phrasing` (mod 3; 0 is the one `cgm world render` prints and the data
 * set's counterfactual captions use) filled with the phrases, "an open umbrella" / "no umbrella" for
 * the umbrella.
 */
export function caption(scm: WorldScm, attributes: WorldAttributes, phrasing = 0): string {
  const p = captionPhrases(scm, attributes);
  // "a person with no umbrella" / "an open umbrella" read naturally with an article only for "open".
  if (Object.hasOwn(p, 'umbrella'))
    p.umbrella = attributes.umbrella === 'open' ? 'an open umbrella' : 'no umbrella';
  const n = CAPTION_TEMPLATES.length;
  const template = CAPTION_TEMPLATES[((phrasing % n) + n) % n];
  return template.replace(/\{(\w+)\}/g, (_, id: string) => {
    if (!Object.hasOwn(p, id))
      throw new WorldInputError(`caption: the template names '${id}', which is not an attribute of the SCM`);
    return p[id];
  });
}
