// The API over in-memory runs, batches and images, with one image already uploaded: the starting point of
// tests that act as an outside client (document links, generated requests).
import sharp from 'sharp';
import { createApp } from '../../api/app.js';
import { type ApiConfig, defaultApiConfig } from '../../api/config.js';
import { createMemoryImageStore } from '../../api/images.js';
import { hashApiKey, keyIdOf } from '../../api/middleware/auth.js';
import { createMemoryRunStarter } from '../../api/runs/memory.js';
import type { BatchInput } from '../../core/schemas/batch-io.js';
import type { LookupFn } from '../../core/webhooks/url-policy.js';

export async function memoryApiWithUpload(
  key: string,
  options: { config?: Partial<ApiConfig>; lookup?: LookupFn } = {},
) {
  const images = createMemoryImageStore('bucket');
  const app = createApp({
    config: defaultApiConfig({ keyHashes: [hashApiKey(key)], ...options.config }),
    images,
    runs: createMemoryRunStarter(),
    batches: createMemoryRunStarter<BatchInput>(),
    ...(options.lookup ? { lookup: options.lookup } : {}),
  });
  const png = await sharp({ create: { width: 96, height: 64, channels: 3, background: '#808080' } })
    .png()
    .toBuffer();
  // Uploaded by `key` itself: uploads are visible only to the key that made them.
  const sha = (await images.forKey(keyIdOf(hashApiKey(key))).put(new Uint8Array(png), 'image/png')).sha256;
  return { app, sha };
}
