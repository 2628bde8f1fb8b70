// Starts a private local stack (own state folder, free ports, fresh data) for the integration
// project and stops it at teardown, whether tests passed or failed. Tests read the endpoints with
// `inject('cgmServices')`; a developer's stack in .state/services is never touched.
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { TestProject } from 'vitest/node';
import { loadConfig } from '../../core/config/index.js';
import { REPO_ROOT, servicesDown, servicesUp, TEST_STATE_DIR } from '../../infra/local/services.js';
import type { ServiceEndpoints } from '../../infra/local/state.js';

declare module 'vitest' {
  export interface ProvidedContext {
    cgmServices: ServiceEndpoints;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // Only the timeout is taken from the environment: ports, folder and credentials are the tests' own.
  const config = loadConfig();
  // One folder per test run: concurrent runs in one checkout (several developers or agents) must
  // not stop each other's services through a shared state file.
  const stateDir = join(TEST_STATE_DIR, `run-${process.pid}`);
  const t0 = Date.now();
  const { state } = await servicesUp({
    stateDir,
    fresh: true,
    binDir: resolve(REPO_ROOT, config.services.binDir),
    startTimeoutMs: config.services.startTimeoutMs,
    log: (line) => process.stderr.write(`[test-services] ${line}\n`),
  });
  process.stderr.write(`[test-services] up in ${Date.now() - t0} ms (${stateDir})\n`);
  project.provide('cgmServices', state.endpoints);
  return async () => {
    const down = await servicesDown(stateDir, 10_000);
    process.stderr.write(
      `[test-services] down: ${down.stopped.map((s) => `${s.name}=${s.outcome}`).join(', ') || 'nothing'}\n`,
    );
    await rm(stateDir, { recursive: true, force: true });
  };
}
