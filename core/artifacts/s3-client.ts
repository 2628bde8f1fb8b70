// One way to build an S3 client that works against SeaweedFS, MinIO and AWS S3 alike.
import { S3Client } from '@aws-sdk/client-s3';

export interface S3Settings {
  /** Omit for AWS S3; set for SeaweedFS/MinIO (e.g. http://127.0.0.1:8333). */
  endpoint?: string;
  region: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  /** Path-style URLs; kept true by default because loopback hosts have no bucket subdomains. */
  forcePathStyle?: boolean;
  maxAttempts?: number;
  requestTimeoutMs?: number;
}

export function createS3Client(settings: S3Settings): S3Client {
  return new S3Client({
    endpoint: settings.endpoint,
    region: settings.region,
    forcePathStyle: settings.forcePathStyle ?? true,
    // Without explicit credentials the SDK's default chain applies (AWS roles in production).
    credentials:
      settings.accessKeyId && settings.secretAccessKey
        ? { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey }
        : undefined,
    // SDK >= 3.729 adds CRC32 trailers to every upload and validates every download; S3 servers
    // that are not AWS mishandle that, and presigned URLs would bake in an empty body's checksum
    // (docs/architecture.md §8.5). Our own sha256 check covers integrity instead.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: settings.maxAttempts,
    requestHandler: settings.requestTimeoutMs
      ? {
          connectionTimeout: Math.min(settings.requestTimeoutMs, 5_000),
          requestTimeout: settings.requestTimeoutMs,
        }
      : undefined,
  });
}
