// What a data set loader returns: one image with its caption, and how the caption was chosen.
import { z } from 'zod';
import type { WorldTruth } from '../../world/truth.js';

/** The paper's two data sets, and the causal street world (`cgm world dataset`), which has ground truth. */
export const DatasetNameSchema = z.enum(['coco', 'celeba-hq', 'world']);
export type DatasetName = z.infer<typeof DatasetNameSchema>;

/** Display names in the paper's Table 1 column order (CelebA-HQ first), the world after them. */
export const DATASET_LABELS: Record<DatasetName, string> = {
  'celeba-hq': 'CelebA-HQ',
  coco: 'MS-COCO',
  world: 'Street world',
};
export const DATASET_ORDER: readonly DatasetName[] = ['celeba-hq', 'coco', 'world'];

export const CaptionRuleSchema = z.enum([
  'coco:lowest-annotation-id',
  'mm-celeba-hq:first-non-empty-line',
  // The caption `cgm world dataset` wrote for the scene (one of the renderer's three phrasings).
  'world:scene-caption',
]);
export type CaptionRule = z.infer<typeof CaptionRuleSchema>;

export interface DatasetItem {
  dataset: DatasetName;
  /** COCO: the image id as a decimal string; CelebA-HQ: the file index ("0" … "29999"); world: the scene id. */
  id: string;
  /** Relative to the loader's root, with '/' separators, so a sample is the same on any machine. */
  imagePath: string;
  caption: string;
  captionRule: CaptionRule;
  /** Street-world scenes: the ground truth (images relative to the loader's root). */
  truth?: WorldTruth;
}

export interface LoadedDataset {
  dataset: DatasetName;
  /** Absolute root the item paths are relative to. */
  root: string;
  /** Sorted by id (string order), the order sampling starts from. */
  items: DatasetItem[];
}

/** A missing or malformed data set file, named with the field, the value found and what was expected. */
export class DatasetError extends Error {
  constructor(
    readonly file: string,
    readonly field: string | null,
    readonly value: string | null,
    readonly expected: string,
    readonly detail?: string,
  ) {
    const at = field ? ` ${field}` : '';
    const got = value === null ? '' : ` (got ${value})`;
    super(`${file}:${at} expected ${expected}${got}${detail ? `; ${detail}` : ''}`);
    this.name = 'DatasetError';
  }
}

/** A value for an error message: JSON, cut to 60 characters. */
export function shown(value: unknown): string {
  const text = value === undefined ? 'nothing (field missing)' : JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

export const byId = (a: DatasetItem, b: DatasetItem) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
