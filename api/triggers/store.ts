// Where triggers live: JSON objects in the artifact bucket, like everything else the API keeps.
//   triggers/defs/<id>.json          the trigger (owner, salt, template; never its secret)
//   triggers/keys/<keyId>/<id>       an empty marker per owner, so a key lists only its own
//   triggers/runs/<id>/<runId>.json  each run a delivery started (delivery id, image source)
// A hook finds its trigger by id alone; the owner is inside the record.
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { createArtifactStore } from '../../core/artifacts/index.js';
import { type StoredTrigger, StoredTriggerSchema } from './schemas.js';

export interface TriggerRunRecord {
  runId: string;
  deliveryId: string;
  source: string;
  at: string;
}

export interface TriggerStore {
  put(trigger: StoredTrigger): Promise<void>;
  get(id: string): Promise<StoredTrigger | null>;
  /** The key's triggers, oldest first. */
  list(owner: string): Promise<StoredTrigger[]>;
  delete(trigger: StoredTrigger): Promise<void>;
  recordRun(triggerId: string, run: TriggerRunRecord): Promise<void>;
  /** Runs a trigger started (at most `limit`, in run id order). */
  listRuns(triggerId: string, limit?: number): Promise<TriggerRunRecord[]>;
}

const PREFIX = 'triggers';
const defKey = (id: string) => `${PREFIX}/defs/${id}.json`;
const ownerKey = (owner: string, id: string) => `${PREFIX}/keys/${owner}/${id}`;
const runKey = (triggerId: string, runId: string) => `${PREFIX}/runs/${triggerId}/${runId}.json`;

function isMissing(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.$metadata?.httpStatusCode === 404 || e.name === 'NoSuchKey' || e.name === 'NotFound';
}

const byCreation = (a: StoredTrigger, b: StoredTrigger) =>
  a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : 1;

export function createS3TriggerStore(client: S3Client, bucket: string): TriggerStore {
  const artifacts = createArtifactStore({ client, bucket, prefix: PREFIX });
  const putJson = async (key: string, value: unknown) => {
    await artifacts.ensureBucket();
    const body = JSON.stringify(value);
    await client.send(
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/json' }),
    );
  };
  const getJson = async (key: string): Promise<unknown | null> => {
    try {
      const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return JSON.parse(await out.Body!.transformToString('utf8'));
    } catch (err) {
      if (isMissing(err) || (err as { name?: string }).name === 'NoSuchBucket') return null;
      throw err;
    }
  };
  const listKeys = async (prefix: string, limit: number): Promise<string[]> => {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      let out: ListObjectsV2CommandOutput;
      try {
        out = await client.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
        );
      } catch (err) {
        if ((err as { name?: string }).name === 'NoSuchBucket') return keys;
        throw err;
      }
      for (const o of out.Contents ?? []) if (o.Key && keys.length < limit) keys.push(o.Key);
      token = keys.length < limit ? out.NextContinuationToken : undefined;
    } while (token);
    return keys;
  };
  const get = async (id: string) => {
    const raw = await getJson(defKey(id));
    return raw === null ? null : StoredTriggerSchema.parse(raw);
  };
  return {
    async put(trigger) {
      await putJson(defKey(trigger.id), trigger);
      await putJson(ownerKey(trigger.owner, trigger.id), {});
    },
    get,
    async list(owner) {
      const prefix = `${PREFIX}/keys/${owner}/`;
      const ids = (await listKeys(prefix, 1000)).map((k) => k.slice(prefix.length));
      const found = await Promise.all(ids.map(get));
      return found.filter((t): t is StoredTrigger => t !== null && t.owner === owner).sort(byCreation);
    },
    async delete(trigger) {
      // The definition first: once it is gone, hooks answer unknown_trigger whatever else remains.
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: defKey(trigger.id) }));
      await client.send(
        new DeleteObjectCommand({ Bucket: bucket, Key: ownerKey(trigger.owner, trigger.id) }),
      );
    },
    async recordRun(triggerId, run) {
      await putJson(runKey(triggerId, run.runId), run);
    },
    async listRuns(triggerId, limit = 1000) {
      const keys = await listKeys(`${PREFIX}/runs/${triggerId}/`, limit);
      const runs = await Promise.all(keys.map((k) => getJson(k)));
      return runs.filter((r): r is TriggerRunRecord => r !== null);
    },
  };
}

/** Triggers in Maps, for app.request() tests. */
export function createMemoryTriggerStore(): TriggerStore & {
  triggers: Map<string, StoredTrigger>;
  runs: Map<string, Map<string, TriggerRunRecord>>;
} {
  const triggers = new Map<string, StoredTrigger>();
  const runs = new Map<string, Map<string, TriggerRunRecord>>();
  return {
    triggers,
    runs,
    async put(trigger) {
      triggers.set(trigger.id, structuredClone(trigger));
    },
    async get(id) {
      const t = triggers.get(id);
      return t ? structuredClone(t) : null;
    },
    async list(owner) {
      return [...triggers.values()].filter((t) => t.owner === owner).sort(byCreation);
    },
    async delete(trigger) {
      triggers.delete(trigger.id);
    },
    async recordRun(triggerId, run) {
      const of = runs.get(triggerId) ?? new Map<string, TriggerRunRecord>();
      of.set(run.runId, run);
      runs.set(triggerId, of);
    },
    async listRuns(triggerId, limit = 1000) {
      return [...(runs.get(triggerId)?.values() ?? [])]
        .sort((a, b) => (a.runId < b.runId ? -1 : 1))
        .slice(0, limit);
    },
  };
}
