// core/log: JSON lines with time, level, service and msg; levels below the configured one dropped; the
// API's log records and Temporal's entries written through the same logger with their fields.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { logSink } from '../../api/server.js';
import { createLogger, type LogLevel, temporalLogger } from '../../core/log/logger.js';

function captured(service: string, level: LogLevel) {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, logger: createLogger(service, level, stream) };
}

describe('core/log', () => {
  it('writes one JSON object a line with an ISO time, the level name, the service and msg', () => {
    const { lines, logger } = captured('api', 'info');
    logger.info({ runId: 'r1' }, 'run started');
    logger.debug('not written at info');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'info', service: 'api', msg: 'run started', runId: 'r1' });
    expect(new Date(lines[0].time as string).toISOString()).toBe(lines[0].time);
  });

  it("writes the API's records at their level, info by default", () => {
    const { lines, logger } = captured('api', 'info');
    const sink = logSink(logger);
    sink({ msg: 'request failed', level: 'error', path: '/v1/x' });
    sink({ msg: 'trigger created', triggerId: 't1' });
    expect(lines).toEqual([
      expect.objectContaining({ level: 'error', msg: 'request failed', path: '/v1/x' }),
      expect.objectContaining({ level: 'info', msg: 'trigger created', triggerId: 't1' }),
    ]);
  });

  it("writes Temporal's entries with their meta as fields, below the level dropped", () => {
    const { lines, logger } = captured('worker-gpu', 'warn');
    const temporal = temporalLogger(logger, 'warn');
    temporal.info('activity started', { activityType: 'invert' });
    temporal.warn('activity failed', { workflowId: 'w1', runId: 'r1', activityType: 'edit', attempt: 2 });
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'warn',
        service: 'worker-gpu',
        msg: 'activity failed',
        workflowId: 'w1',
        runId: 'r1',
        activityType: 'edit',
        attempt: 2,
      }),
    ]);
  });
});
