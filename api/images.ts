// Where uploaded images live: `uploads/sha256/<xx>/<sha256>` in the artifact bucket, the same key
// whether the image came in a multipart request or through a presigned PUT, so a run can name an
// upload by its sha256 alone. Presigned GETs serve result artifacts.
//
// Uploads are visible per API key. A key owns a hash once it has shown the bytes: its presigned PUT
// lands on its own key `uploads/keys/<keyId>/<sha256>` (S3 checks the signed checksum), or it sent them
// through the API, which writes an empty marker there. `forKey(keyId)` answers only for hashes that key
// owns, and moves a PUT's bytes to the shared content address the first time they are used, so content
// is stored once however many keys upload it, and no key learns what another uploaded.
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { ArtifactIntegrityError } from '../core/artifacts/errors.js';
import { type ArtifactStore, contentKey, createArtifactStore, sha256Hex } from '../core/artifacts/index.js';
import type { ArtifactRef } from '../core/schemas/artifact.js';

export const UPLOAD_PREFIX = 'uploads';

export interface ImageStore {
  readonly bucket: string;
  /** Size and type of an uploaded image, or null when nothing is stored under that sha256. */
  head(sha256: string): Promise<{ bytes: number; contentType: string } | null>;
  put(bytes: Uint8Array, contentType: string): Promise<ArtifactRef>;
  /** Content-addressed write of other API artifacts (a batch's data set manifest) under `prefix`. */
  putArtifact(bytes: Uint8Array, contentType: string, prefix: string): Promise<ArtifactRef>;
  /** Bytes of `ref`, verified against its sha256. */
  get(ref: ArtifactRef): Promise<Uint8Array>;
  presignGet(ref: ArtifactRef, ttlSeconds: number): Promise<string>;
  /**
   * The uploads of one API key: `head` answers only for hashes the key owns, `put` and `presignPut`
   * make it an owner. Everything else is the shared store.
   */
  forKey(keyId: string): KeyImageStore;
}

/** One key's uploads; the only way to hand out a presigned PUT (it lands on the key's own upload). */
export interface KeyImageStore extends Omit<ImageStore, 'forKey'> {
  presignPut(
    sha256: string,
    contentType: string,
    bytes: number,
    ttlSeconds: number,
  ): Promise<{ url: string; headers: Record<string, string> }>;
}

/** Where a key's own PUT of an upload lands, and its ownership marker stays. */
export function ownerKey(keyId: string, sha256: string): string {
  return `${UPLOAD_PREFIX}/keys/${keyId}/${sha256}`;
}

export function uploadRef(bucket: string, sha256: string, bytes: number, contentType: string): ArtifactRef {
  return { bucket, key: contentKey(UPLOAD_PREFIX, sha256), sha256, bytes, contentType };
}

function isMissing(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return (
    e.$metadata?.httpStatusCode === 404 ||
    e.name === 'NotFound' ||
    e.name === 'NoSuchKey' ||
    e.name === 'NoSuchBucket'
  );
}

export function createS3ImageStore(client: S3Client, bucket: string): ImageStore {
  const store: ArtifactStore = createArtifactStore({ client, bucket, prefix: UPLOAD_PREFIX });
  const headOf = async (key: string) => {
    try {
      const out = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return { bytes: out.ContentLength ?? 0, contentType: out.ContentType ?? 'application/octet-stream' };
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  };
  const shared: ImageStore = {
    bucket,
    head: (sha256) => headOf(contentKey(UPLOAD_PREFIX, sha256)),
    async put(bytes, contentType) {
      return (await store.put(bytes, { contentType, prefix: UPLOAD_PREFIX })).ref;
    },
    async putArtifact(bytes, contentType, prefix) {
      return (await store.put(bytes, { contentType, prefix })).ref;
    },
    get: (ref) => store.get(ref),
    presignGet: (ref, ttlSeconds) => store.presignGet(ref, ttlSeconds),
    forKey: (keyId) => ({
      bucket,
      putArtifact: shared.putArtifact,
      presignGet: shared.presignGet,
      async head(sha256) {
        const own = await headOf(ownerKey(keyId, sha256));
        if (!own) return null;
        const content = await headOf(contentKey(UPLOAD_PREFIX, sha256));
        if (content || own.bytes === 0) return content;
        // The key's PUT, not yet at the content address: copy it there (S3 verified its checksum).
        await client.send(
          new CopyObjectCommand({
            Bucket: bucket,
            Key: contentKey(UPLOAD_PREFIX, sha256),
            CopySource: `${bucket}/${ownerKey(keyId, sha256)}`,
            MetadataDirective: 'COPY',
          }),
        );
        return headOf(contentKey(UPLOAD_PREFIX, sha256));
      },
      async put(bytes, contentType) {
        const ref = await shared.put(bytes, contentType);
        await client.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: ownerKey(keyId, ref.sha256),
            Body: new Uint8Array(0),
            Metadata: { sha256: ref.sha256 },
          }),
        );
        return ref;
      },
      presignPut: (sha256, contentType, bytes, ttlSeconds) =>
        presignedPut(ownerKey(keyId, sha256), sha256, contentType, bytes, ttlSeconds),
      async get(ref) {
        try {
          return await shared.get(ref);
        } catch (err) {
          // Corrupt shared content (it cannot come from a checksummed PUT): remove it, so the next
          // use copies it again from a key's own verified upload, or a new upload writes it.
          if (err instanceof ArtifactIntegrityError && ref.key === contentKey(UPLOAD_PREFIX, ref.sha256))
            await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: ref.key }));
          throw err;
        }
      },
    }),
  };
  return shared;

  async function presignedPut(
    key: string,
    sha256: string,
    contentType: string,
    bytes: number,
    ttlSeconds: number,
  ) {
    await store.ensureBucket();
    // The body's SHA-256 is signed as x-amz-checksum-sha256, which S3 (and SeaweedFS) verify against
    // the bytes received: a PUT whose bytes do not hash to the upload's sha256 fails (400 BadDigest),
    // so nobody holding a ticket for a hash can store other bytes under it.
    const checksum = Buffer.from(sha256, 'hex').toString('base64');
    const command = new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      ContentType: contentType,
      ContentLength: bytes,
      ChecksumSHA256: checksum,
      Metadata: { sha256 },
    });
    // These headers are signed: the PUT must send exactly them.
    const url = await getSignedUrl(client, command, {
      expiresIn: ttlSeconds,
      signableHeaders: new Set(['content-type', 'x-amz-meta-sha256', 'x-amz-checksum-sha256']),
      unhoistableHeaders: new Set(['x-amz-meta-sha256', 'x-amz-checksum-sha256']),
    });
    return {
      url,
      headers: {
        'content-type': contentType,
        'x-amz-meta-sha256': sha256,
        'x-amz-checksum-sha256': checksum,
      },
    };
  }
}

/** Objects in a Map keyed by sha256, for app.request() tests; `objects.size` tells whether anything was stored. */
export function createMemoryImageStore(bucket = 'memory'): ImageStore & {
  objects: Map<string, { bytes: Uint8Array; contentType: string }>;
  /** Hashes each key id owns. */
  owners: Map<string, Set<string>>;
} {
  const objects = new Map<string, { bytes: Uint8Array; contentType: string }>();
  const owners = new Map<string, Set<string>>();
  const own = (keyId: string) => {
    const set = owners.get(keyId) ?? new Set<string>();
    owners.set(keyId, set);
    return set;
  };
  const shared: ImageStore & {
    objects: typeof objects;
    owners: typeof owners;
  } = {
    bucket,
    objects,
    owners,
    async head(sha256) {
      const o = objects.get(sha256);
      return o ? { bytes: o.bytes.byteLength, contentType: o.contentType } : null;
    },
    async put(bytes, contentType) {
      const sha = sha256Hex(bytes);
      objects.set(sha, { bytes, contentType });
      return uploadRef(bucket, sha, bytes.byteLength, contentType);
    },
    async putArtifact(bytes, contentType, prefix) {
      const sha = sha256Hex(bytes);
      objects.set(sha, { bytes, contentType });
      return { bucket, key: contentKey(prefix, sha), sha256: sha, bytes: bytes.byteLength, contentType };
    },
    async get(ref) {
      const o = objects.get(ref.sha256);
      if (!o || sha256Hex(o.bytes) !== ref.sha256) throw new Error(`no object ${ref.key}`);
      return o.bytes;
    },
    async presignGet(ref) {
      return `memory://${ref.bucket}/${ref.key}`;
    },
    forKey(keyId: string): KeyImageStore {
      return {
        bucket,
        putArtifact: shared.putArtifact,
        get: shared.get,
        presignGet: shared.presignGet,
        async head(sha256) {
          // A read: no owner entry is made for a key that only asks.
          return owners.get(keyId)?.has(sha256) ? shared.head(sha256) : null;
        },
        async put(bytes, contentType) {
          const ref = await shared.put(bytes, contentType);
          own(keyId).add(ref.sha256);
          return ref;
        },
        async presignPut(sha256, contentType) {
          return {
            url: `memory://${bucket}/${ownerKey(keyId, sha256)}`,
            headers: { 'content-type': contentType },
          };
        },
      };
    },
  };
  return shared;
}
