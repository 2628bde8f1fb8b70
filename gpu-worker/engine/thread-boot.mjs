// Bootstrap of an engine worker thread: worker threads do not inherit the main thread's tsx loader,
// so register it here before importing the TypeScript entry named in workerData.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
