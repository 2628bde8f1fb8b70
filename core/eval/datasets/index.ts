export { type CelebaOptions, firstNonEmptyLine, loadCelebaHq } from './celeba.js';
export { type CocoOptions, type CocoSplit, cocoAnnotationsPath, loadCoco } from './coco.js';
export { assertImagesExist } from './files.js';
export * from './types.js';
export { loadWorld, type WorldDatasetOptions } from './world.js';
