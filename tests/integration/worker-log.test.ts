// One structured log (core/log): a worker's lines are JSON with time, level, service and msg, and the
// lines written by workflow code and by activities carry the run they belong to (workflowId, runId,
// workflowType) and the activity (activityType, attempt), through Temporal's runtime logger. This file
// installs the process's Temporal runtime, so it runs in its own process (vitest forks, isolated).
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { activityLog } from '../../activities/activity-log.js';
import { createLogger, temporalLogger } from '../../core/log/logger.js';
import type { loggedWorkflow } from '../support/logged-workflow.js';

const services = inject('cgmServices');
const workflowsPath = fileURLToPath(new URL('../support/logged-workflow.ts', import.meta.url));
const lines: Record<string, unknown>[] = [];
const capture = new Writable({
  write(chunk, _encoding, done) {
    for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
    done();
  },
});

let connection: Connection;
let nativeConnection: NativeConnection;

beforeAll(async () => {
  const logger = createLogger('worker-test', 'info', capture);
  Runtime.install({ logger: temporalLogger(logger, 'info') });
  connection = await Connection.connect({ address: services.temporal.address });
  nativeConnection = await NativeConnection.connect({ address: services.temporal.address });
});

afterAll(async () => {
  await connection?.close();
  await nativeConnection?.close();
});

describe('worker log lines', () => {
  it('say which run and which activity they are about', async () => {
    const taskQueue = `log-${Date.now()}`;
    const workflowId = `logged-${Date.now()}`;
    const worker = await Worker.create({
      connection: nativeConnection,
      namespace: services.temporal.namespace,
      taskQueue,
      workflowsPath,
      activities: {
        async greet(name: string) {
          activityLog()?.info('greeted', { name });
          return `hello, ${name}`;
        },
      },
    });
    const client = new Client({ connection, namespace: services.temporal.namespace });
    const handle = await client.workflow.start<typeof loggedWorkflow>('loggedWorkflow', {
      taskQueue,
      workflowId,
      args: ['world'],
      workflowExecutionTimeout: '60s',
    });
    expect(await worker.runUntil(handle.result())).toBe('hello, world');

    for (const line of lines) {
      expect(line).toMatchObject({
        service: 'worker-test',
        level: expect.any(String),
        msg: expect.any(String),
      });
      expect(new Date(line.time as string).toISOString()).toBe(line.time);
    }
    const fromWorkflow = lines.find((l) => l.msg === 'greeting');
    expect(fromWorkflow).toMatchObject({
      level: 'info',
      name: 'world',
      workflowId,
      runId: handle.firstExecutionRunId,
      workflowType: 'loggedWorkflow',
      taskQueue,
    });
    const fromActivity = lines.find((l) => l.msg === 'greeted');
    expect(fromActivity).toMatchObject({
      level: 'info',
      workflowId,
      workflowRunId: handle.firstExecutionRunId,
      activityType: 'greet',
      attempt: 1,
    });
  });
});
