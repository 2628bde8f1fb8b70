// Bootstrap of an engine worker thread: worker threads do not inherit the main thread's tsx loader,
// so a TypeScript entry (a checkout) registers it here first; a compiled entry (the images, where
// tsx is not installed) is imported as is.
import { workerData } from 'node:worker_threads';

if (workerData.entry.endsWith('.ts')) {
  const { register } = await import('tsx/esm/api');
  register();
}
await import(workerData.entry);
