// One structured log for every process (pino): JSON lines on stderr, each with the time (ISO), level,
// service (api, worker-light, worker-gpu) and msg. Temporal's own logs, and the `log` of workflow code
// and activities, go through the same logger (temporalLogger): the SDK adds namespace, taskQueue,
// workflowId, runId and workflowType to every workflow line, and activityId, activityType and attempt
// to every activity line, so a line says which run and which activity it is about.
import { DefaultLogger, type LogEntry, type LogLevel as TemporalLevel } from '@temporalio/worker';
import pino, { type DestinationStream, type Logger } from 'pino';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type { Logger } from 'pino';

/** A logger for one service; `destination` defaults to stderr (stdout stays for a command's output). */
export function createLogger(service: string, level: LogLevel, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service },
      messageKey: 'msg',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ fd: 2, sync: true }),
  );
}

const TEMPORAL_LEVEL: Record<LogLevel, TemporalLevel> = {
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARN',
  error: 'ERROR',
};

/** Temporal's logger (Runtime.install({ logger })) writing through `logger`, entry meta as fields. */
export function temporalLogger(logger: Logger, level: LogLevel): DefaultLogger {
  return new DefaultLogger(TEMPORAL_LEVEL[level], (entry: LogEntry) => {
    const fields = { ...(entry.meta ?? {}) };
    switch (entry.level) {
      case 'TRACE':
        logger.trace(fields, entry.message);
        break;
      case 'DEBUG':
        logger.debug(fields, entry.message);
        break;
      case 'INFO':
        logger.info(fields, entry.message);
        break;
      case 'WARN':
        logger.warn(fields, entry.message);
        break;
      default:
        logger.error(fields, entry.message);
    }
  });
}
