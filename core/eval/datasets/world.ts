// The causal street world as an evaluation data set: a folder written by `cgm world dataset` (its
// world-dataset.json, scenes/*.json and images, checked by core/world/dataset.ts against the SCM). Every
// scene is one image, captioned with the caption the data set wrote, and carries its ground truth.
import { resolve } from 'node:path';
import { loadWorldDataset } from '../../world/dataset.js';
import { loadWorldScm, type WorldScm } from '../../world/scm.js';
import { truthOfScene } from '../../world/truth.js';
import { byId, type DatasetItem, type LoadedDataset } from './types.js';

export interface WorldDatasetOptions {
  root: string;
  scm?: WorldScm;
}

/** Throws WorldInputError naming the file and the field (a missing image, an unknown attribute, …). */
export function loadWorld(options: WorldDatasetOptions): LoadedDataset {
  const root = resolve(options.root);
  const dataset = loadWorldDataset(root, options.scm ?? loadWorldScm());
  const items: DatasetItem[] = dataset.scenes.map((scene) => ({
    dataset: 'world',
    id: scene.id,
    imagePath: scene.image.replace(/\\/g, '/'),
    caption: scene.caption,
    captionRule: 'world:scene-caption',
    truth: truthOfScene(scene),
  }));
  items.sort(byId);
  return { dataset: 'world', root, items };
}
