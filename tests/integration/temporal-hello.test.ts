// A real Worker (bundled from workflows/hello.ts) runs a workflow through the dev server.
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { helloWorkflow } from '../../workflows/hello.js';

const services = inject('cgmServices');
const workflowsPath = fileURLToPath(new URL('../../workflows/hello.ts', import.meta.url));

let connection: Connection;
let nativeConnection: NativeConnection;

beforeAll(async () => {
  // Once per process; the default logger would flood the test output with INFO lines.
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // Already installed by another test file sharing this process: keep that one.
  }
  connection = await Connection.connect({ address: services.temporal.address });
  nativeConnection = await NativeConnection.connect({ address: services.temporal.address });
});

afterAll(async () => {
  await connection?.close();
  await nativeConnection?.close();
});

describe('Temporal dev server', () => {
  it('runs the hello workflow on a real worker', async () => {
    const taskQueue = `hello-${Date.now()}`;
    const worker = await Worker.create({
      connection: nativeConnection,
      namespace: services.temporal.namespace,
      taskQueue,
      workflowsPath,
    });
    const client = new Client({ connection, namespace: services.temporal.namespace });
    const result = await worker.runUntil(
      client.workflow.execute<typeof helloWorkflow>('helloWorkflow', {
        taskQueue,
        workflowId: `hello-${Date.now()}`,
        args: ['causal world'],
        workflowExecutionTimeout: '60s',
      }),
    );
    expect(result).toBe('hello, causal world');
  });
});
