// The evaluation records of a finished batch, read from S3 through the batch workflow's result (or,
// for a cancelled batch, the result its progress query keeps), for `cgm report --batch ID`.
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import { loadConfig, temporalConnectOptions } from '../core/config/index.js';
import {
  BATCH_PROGRESS_QUERY,
  type BatchProgress,
  type BatchResult,
  BatchResultSchema,
} from '../core/schemas/batch-io.js';
import { CliError } from './cli-error.js';
import { artifactStoreOf } from './config-store.js';

export async function batchResultsText(batchId: string): Promise<string> {
  const config = loadConfig();
  const connection = await Connection.connect(await temporalConnectOptions(config.temporal));
  let result: BatchResult;
  try {
    const client = new Client({ connection, namespace: config.temporal.namespace });
    const handle = client.workflow.getHandle(batchId);
    let status: string;
    try {
      status = (await handle.describe()).status.name;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError)
        throw new CliError(
          `--batch: no batch workflow '${batchId}' in namespace ${config.temporal.namespace}`,
          2,
        );
      throw err;
    }
    let raw: unknown;
    if (status === 'COMPLETED') raw = await handle.result();
    else if (status === 'CANCELLED')
      raw = (await handle.query<BatchProgress>(BATCH_PROGRESS_QUERY).catch(() => null))?.result;
    else
      throw new CliError(
        `--batch: batch '${batchId}' is ${status}; a report exists once it has completed or was cancelled`,
        2,
      );
    const parsed = BatchResultSchema.safeParse(raw);
    if (!parsed.success)
      throw new CliError(`--batch: batch '${batchId}' (${status}) has no report references`, 2);
    result = parsed.data;
  } finally {
    await connection.close();
  }
  const store = artifactStoreOf(config);
  return new TextDecoder().decode(await store.get(result.results));
}
