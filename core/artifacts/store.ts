// Content-addressed artifact store over S3: the bytes' sha256 is the key, so writes are
// idempotent (a retried activity rewrites nothing) and every read is verified against its ref.
import { createHash } from 'node:crypto';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { z } from 'zod';
import { type ArtifactRef, ArtifactRefSchema } from '../schemas/artifact.js';
import { ArtifactIntegrityError, ArtifactNotFoundError, ArtifactSchemaError } from './errors.js';
import { createS3Client, type S3Settings } from './s3-client.js';

export interface PutResult {
  ref: ArtifactRef;
  /** False when identical bytes were already stored and nothing was written. */
  written: boolean;
}

export interface PutOptions {
  contentType: string;
  /** Key namespace, default the store's prefix (e.g. 'images', 'latents'). */
  prefix?: string;
}

export interface ArtifactStore {
  readonly bucket: string;
  /** Creates the bucket if missing; idempotent, memoised, safe against concurrent creators. */
  ensureBucket(): Promise<void>;
  put(bytes: Uint8Array, options: PutOptions): Promise<PutResult>;
  /** Bytes of `ref`, verified against its sha256 and size. */
  get(ref: ArtifactRef): Promise<Uint8Array>;
  putJson<S extends z.ZodType>(
    schema: S,
    value: z.input<S>,
    options?: Partial<PutOptions>,
  ): Promise<PutResult>;
  getJson<S extends z.ZodType>(schema: S, ref: ArtifactRef): Promise<z.output<S>>;
  /** A time-limited GET URL for browsers and the API (no credentials needed by the holder). */
  presignGet(ref: ArtifactRef, expiresInSeconds?: number): Promise<string>;
  exists(ref: Pick<ArtifactRef, 'key' | 'bytes' | 'sha256'>): Promise<boolean>;
  /**
   * Writes bytes under a key the caller derives from the inputs that determine them (e.g. a hash of
   * image + settings + model), so a retry on another host finds the earlier result by its inputs.
   */
  putAt(key: string, bytes: Uint8Array, options: Pick<PutOptions, 'contentType'>): Promise<PutResult>;
  /** The ref of the object at `key` (sha256 from its metadata), or null when there is none. */
  stat(key: string): Promise<ArtifactRef | null>;
}

export interface ArtifactStoreOptions {
  bucket: string;
  /** Either a ready client (shared by the caller, who also destroys it) or settings to build one. */
  client?: S3Client;
  s3?: S3Settings;
  prefix?: string;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** `<prefix>/sha256/<first two hex>/<hex>`: the fan-out keeps listings of one prefix small. */
export function contentKey(prefix: string, sha256: string): string {
  return `${prefix.replace(/\/+$/, '')}/sha256/${sha256.slice(0, 2)}/${sha256}`;
}

const statusOf = (err: unknown): number | undefined =>
  (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
const nameOf = (err: unknown): string | undefined => (err as { name?: string }).name;
const isNotFound = (err: unknown): boolean =>
  statusOf(err) === 404 || ['NotFound', 'NoSuchKey', 'NoSuchBucket'].includes(nameOf(err) ?? '');

export function createArtifactStore(options: ArtifactStoreOptions): ArtifactStore {
  if (!options.client && !options.s3)
    throw new Error('createArtifactStore needs either `client` or `s3` settings');
  const client = options.client ?? createS3Client(options.s3!);
  const bucket = options.bucket;
  const defaultPrefix = options.prefix ?? 'artifacts';
  let bucketReady: Promise<void> | null = null;

  async function createBucketIfMissing(): Promise<void> {
    try {
      await client.send(new HeadBucketCommand({ Bucket: bucket }));
      return;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    try {
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
    } catch (err) {
      // Another worker created it between our HEAD and CREATE: that is success.
      if (nameOf(err) !== 'BucketAlreadyOwnedByYou' && nameOf(err) !== 'BucketAlreadyExists') throw err;
    }
  }

  function ensureBucket(): Promise<void> {
    bucketReady ??= createBucketIfMissing().catch((err: unknown) => {
      bucketReady = null; // let the next call retry a transient failure
      throw err;
    });
    return bucketReady;
  }

  async function head(key: string): Promise<{ bytes: number; sha256?: string; contentType?: string } | null> {
    try {
      const out = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return { bytes: out.ContentLength ?? -1, sha256: out.Metadata?.sha256, contentType: out.ContentType };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async function exists(ref: Pick<ArtifactRef, 'key' | 'bytes' | 'sha256'>): Promise<boolean> {
    const found = await head(ref.key);
    // A same-key object of another size or recorded hash is a broken earlier write, not a hit.
    return (
      found !== null &&
      found.bytes === ref.bytes &&
      (found.sha256 === undefined || found.sha256 === ref.sha256)
    );
  }

  /** Content-addressed: the key is derived from the bytes' sha256, so equal bytes share one object. */
  function put(bytes: Uint8Array, opts: PutOptions): Promise<PutResult> {
    const sha256 = sha256Hex(bytes);
    return writeOnce(contentKey(opts.prefix ?? defaultPrefix, sha256), bytes, sha256, opts.contentType);
  }

  async function get(ref: ArtifactRef): Promise<Uint8Array> {
    let body: Uint8Array;
    try {
      const out = await client.send(new GetObjectCommand({ Bucket: ref.bucket, Key: ref.key }));
      if (!out.Body) throw new ArtifactNotFoundError(ref.bucket, ref.key);
      body = await out.Body.transformToByteArray();
    } catch (err) {
      if (isNotFound(err)) throw new ArtifactNotFoundError(ref.bucket, ref.key);
      throw err;
    }
    const actual = sha256Hex(body);
    if (actual !== ref.sha256 || body.byteLength !== ref.bytes) {
      throw new ArtifactIntegrityError(ref.bucket, ref.key, ref.sha256, actual, ref.bytes, body.byteLength);
    }
    return body;
  }

  async function putJson<S extends z.ZodType>(
    schema: S,
    value: z.input<S>,
    opts?: Partial<PutOptions>,
  ): Promise<PutResult> {
    // Validate before writing: a bad value must fail here, not when someone reads it back.
    const parsed = schema.parse(value);
    const bytes = new TextEncoder().encode(JSON.stringify(parsed));
    return put(bytes, { contentType: opts?.contentType ?? 'application/json', prefix: opts?.prefix });
  }

  async function getJson<S extends z.ZodType>(schema: S, ref: ArtifactRef): Promise<z.output<S>> {
    const bytes = await get(ref);
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(bytes));
    } catch (err) {
      throw new ArtifactSchemaError(ref.bucket, ref.key, `not JSON (${(err as Error).message})`);
    }
    const result = schema.safeParse(json);
    if (!result.success) throw new ArtifactSchemaError(ref.bucket, ref.key, z.prettifyError(result.error));
    return result.data;
  }

  async function presignGet(ref: ArtifactRef, expiresInSeconds = 900): Promise<string> {
    ArtifactRefSchema.parse(ref);
    return getSignedUrl(client, new GetObjectCommand({ Bucket: ref.bucket, Key: ref.key }), {
      expiresIn: expiresInSeconds,
    });
  }

  function putAt(key: string, bytes: Uint8Array, opts: Pick<PutOptions, 'contentType'>): Promise<PutResult> {
    return writeOnce(key, bytes, sha256Hex(bytes), opts.contentType);
  }

  /** Writes unless an object with the same size and hash is already there (retries write nothing). */
  async function writeOnce(
    key: string,
    bytes: Uint8Array,
    sha256: string,
    contentType: string,
  ): Promise<PutResult> {
    await ensureBucket();
    const ref: ArtifactRef = { bucket, key, sha256, bytes: bytes.byteLength, contentType };
    if (await exists(ref)) return { ref, written: false };
    await client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: bytes,
        ContentLength: bytes.byteLength,
        ContentType: contentType,
        Metadata: { sha256 },
      }),
    );
    return { ref, written: true };
  }

  async function stat(key: string): Promise<ArtifactRef | null> {
    const found = await head(key);
    if (!found?.sha256 || found.bytes < 0) return null;
    return {
      bucket,
      key,
      sha256: found.sha256,
      bytes: found.bytes,
      contentType: found.contentType ?? 'application/octet-stream',
    };
  }

  return { bucket, ensureBucket, put, get, putJson, getJson, presignGet, exists, putAt, stat };
}
