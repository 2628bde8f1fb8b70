// A world data set folder as `cgm world dataset` writes it, read and checked: every scene's image and
// true counterfactual images exist, attributes are allowed by the SCM, each intervention's propagated
// attributes are what the SCM gives with the scene's own noise. Errors name the file and the field.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { formatZodPath } from '../schemas/zod-path.js';
import { WorldInputError } from './errors.js';
import {
  checkAttributes,
  checkDo,
  counterfactual,
  solve,
  type WorldAttributes,
  type WorldScm,
} from './scm.js';

export const WORLD_DATASET_FORMAT = 'cgm-world-dataset/1';

const Rect = z.tuple([z.number(), z.number(), z.number(), z.number()]);

const WorldInterventionSchema = z.object({
  id: z.string().min(1),
  kind: z.enum(['many-descendants', 'few-descendants', 'no-descendants']),
  do: z.record(z.string(), z.string()),
  attributes: z.record(z.string(), z.string()),
  changed: z.array(z.string()),
  caption: z.string().min(1),
  image: z.string().min(1),
});

const WorldSceneSchema = z.object({
  id: z.string().min(1),
  index: z.number().int().nonnegative(),
  caption: z.string().min(1),
  attributes: z.record(z.string(), z.string()),
  u: z.object({ noise: z.record(z.string(), z.number()), layout: z.record(z.string(), z.unknown()) }),
  regions: z.record(z.string(), Rect),
  image: z.string().min(1),
  interventions: z.array(WorldInterventionSchema).min(1),
});

const WorldDatasetManifestSchema = z.object({
  format: z.literal(WORLD_DATASET_FORMAT),
  scm: z.string(),
  seed: z.number().int(),
  n: z.number().int().positive(),
  scenes: z.array(z.string().regex(/^[A-Za-z0-9_-]+$/, 'scene ids are letters, digits, _ and -')).min(1),
});

export type WorldScene = z.infer<typeof WorldSceneSchema> & { readonly imagePath: string };
export type WorldIntervention = z.infer<typeof WorldInterventionSchema>;
export interface WorldDataset {
  readonly dir: string;
  readonly seed: number;
  readonly scenes: readonly WorldScene[];
}

function readJson<T>(file: string, schema: z.ZodType<T>, what: string): T {
  if (!existsSync(file)) throw new WorldInputError(`${file}: missing (${what})`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new WorldInputError(`${file}: not valid JSON (${(err as Error).message})`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new WorldInputError(`${file}: ${formatZodPath(issue.path) || '(root)'}: ${issue.message}`);
  }
  return parsed.data;
}

function inFile(file: string, check: () => void): void {
  try {
    check();
  } catch (err) {
    if (err instanceof WorldInputError) throw new WorldInputError(`${file}: ${err.message}`);
    throw err;
  }
}

function sameAttributes(a: WorldAttributes, b: WorldAttributes): boolean {
  return Object.keys(a).length === Object.keys(b).length && Object.keys(a).every((k) => a[k] === b[k]);
}

/** Reads and checks DIR/world-dataset.json, every scene file and the images they name. */
export function loadWorldDataset(dir: string, scm: WorldScm): WorldDataset {
  const manifestFile = join(dir, 'world-dataset.json');
  const manifest = readJson(
    manifestFile,
    WorldDatasetManifestSchema,
    'the data set manifest of `cgm world dataset`',
  );
  if (manifest.scm !== scm.name)
    throw new WorldInputError(
      `${manifestFile}: scm: '${manifest.scm}' is not this world's SCM ('${scm.name}')`,
    );
  const scenes = manifest.scenes.map((id) => {
    const file = join(dir, 'scenes', `${id}.json`);
    const scene = readJson(file, WorldSceneSchema, `scene ${id}`);
    inFile(file, () => {
      checkAttributes(scm, scene.attributes);
      const solved = solve(scm, scene.u.noise);
      if (!sameAttributes(solved, scene.attributes))
        throw new WorldInputError('attributes: not what the SCM gives for u.noise');
      for (const [k, iv] of scene.interventions.entries()) {
        const at = `interventions[${k}]`;
        try {
          checkDo(scm, iv.do);
          checkAttributes(scm, iv.attributes);
        } catch (err) {
          throw new WorldInputError(`${at}.${(err as Error).message}`);
        }
        if (!sameAttributes(counterfactual(scm, scene.u.noise, iv.do), iv.attributes))
          throw new WorldInputError(
            `${at}.attributes: not the SCM's counterfactual of do ${JSON.stringify(iv.do)}`,
          );
      }
    });
    for (const [field, rel] of [
      ['image', scene.image],
      ...scene.interventions.map((iv, k) => [`interventions[${k}].image`, iv.image]),
    ]) {
      if (rel.includes('..') || rel.startsWith('/'))
        throw new WorldInputError(`${file}: ${field}: '${rel}' must be a path inside the data set folder`);
      if (!existsSync(join(dir, rel)))
        throw new WorldInputError(`${file}: ${field}: ${join(dir, rel)} is missing`);
    }
    return { ...scene, imagePath: join(dir, scene.image) };
  });
  return { dir, seed: manifest.seed, scenes };
}
