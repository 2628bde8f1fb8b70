// Entry of the engine worker thread: EngineHost.start(moduleUrl('…/engine-thread.ts', import.meta.url)).
import { createEngineJobs } from './engine-jobs.js';
import { serveJobs } from './thread-runtime.js';

serveJobs(createEngineJobs());
