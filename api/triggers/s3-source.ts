// Reads an image a delivery names by S3 bucket and key, with the API's own credentials. Callers check
// the bucket against the trigger's and the operator's allow-lists first (allow.ts); this only reads,
// refusing an object larger than the image limit before downloading it.
import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { ApiError } from '../errors.js';
import type { FetchedImage } from './url-image.js';

export interface SourceObjectReader {
  read(bucket: string, key: string, maxBytes: number, field: string): Promise<FetchedImage>;
}

export function createS3SourceReader(client: S3Client): SourceObjectReader {
  return {
    async read(bucket, key, maxBytes, field) {
      const where = `s3://${bucket}/${key}`;
      try {
        const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
        if ((head.ContentLength ?? 0) > maxBytes)
          throw new ApiError(
            'payload_too_large',
            `${where} is ${head.ContentLength} bytes; the limit is ${maxBytes}`,
            field,
          );
        const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        const bytes = await out.Body!.transformToByteArray();
        if (bytes.byteLength > maxBytes)
          throw new ApiError(
            'payload_too_large',
            `${where} is ${bytes.byteLength} bytes; the limit is ${maxBytes}`,
            field,
          );
        return { bytes, contentType: out.ContentType };
      } catch (err) {
        if (err instanceof ApiError) throw err;
        const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
        const status = e.$metadata?.httpStatusCode;
        if (status === 404 || e.name === 'NotFound' || e.name === 'NoSuchKey' || e.name === 'NoSuchBucket')
          throw new ApiError('image_fetch_failed', `no object ${where}`, field);
        if (status === 403 || e.name === 'AccessDenied')
          throw new ApiError('image_fetch_failed', `the server may not read ${where} (access denied)`, field);
        throw err;
      }
    },
  };
}

/** Objects in a Map keyed `bucket/key`, for app.request() tests. */
export function createMemorySourceReader(
  objects: Map<string, FetchedImage & { bytes: Uint8Array }>,
): SourceObjectReader {
  return {
    async read(bucket, key, maxBytes, field) {
      const o = objects.get(`${bucket}/${key}`);
      if (!o) throw new ApiError('image_fetch_failed', `no object s3://${bucket}/${key}`, field);
      if (o.bytes.byteLength > maxBytes)
        throw new ApiError(
          'payload_too_large',
          `s3://${bucket}/${key} is ${o.bytes.byteLength} bytes; the limit is ${maxBytes}`,
          field,
        );
      return o;
    },
  };
}
