// Downloads a model bundle (s3://bucket/prefix/) into a folder, using the AWS default credential
// chain (task role) or CGM_S3_* for S3-compatible stores. Writes cgm-model.json last so a partial
// download is never mistaken for a bundle.
import { createWriteStream } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';

const [uri, outDir] = process.argv.slice(2);
const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(uri ?? '');
if (!m || !outDir) {
  console.error('usage: fetch-models.mjs s3://bucket/prefix/ OUT_DIR');
  process.exit(64);
}
const [, bucket, rawPrefix] = m;
const prefix = rawPrefix && !rawPrefix.endsWith('/') ? `${rawPrefix}/` : rawPrefix;
const env = process.env;
const s3 = new S3Client({
  region: env.CGM_S3_REGION ?? env.AWS_REGION ?? 'us-east-1',
  ...(env.CGM_S3_ENDPOINT ? { endpoint: env.CGM_S3_ENDPOINT } : {}),
  forcePathStyle: env.CGM_S3_FORCE_PATH_STYLE === 'true',
  ...(env.CGM_S3_ACCESS_KEY_ID && env.CGM_S3_SECRET_ACCESS_KEY
    ? {
        credentials: { accessKeyId: env.CGM_S3_ACCESS_KEY_ID, secretAccessKey: env.CGM_S3_SECRET_ACCESS_KEY },
      }
    : {}),
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
});
const keys = [];
let token;
do {
  const page = await s3.send(
    new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
  );
  for (const o of page.Contents ?? []) if (o.Key && !o.Key.endsWith('/')) keys.push(o.Key);
  token = page.NextContinuationToken;
} while (token);
if (!keys.some((k) => k.endsWith('cgm-model.json'))) {
  console.error(`no cgm-model.json under ${uri}: export and upload the bundle first (docs/deployment.md)`);
  process.exit(66);
}
keys.sort((a, b) => Number(a.endsWith('cgm-model.json')) - Number(b.endsWith('cgm-model.json')));
for (const key of keys) {
  const dest = join(outDir, key.slice(prefix.length));
  await mkdir(dirname(dest), { recursive: true });
  const obj = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  await pipeline(obj.Body, createWriteStream(`${dest}.part`));
  await rename(`${dest}.part`, dest);
  console.log(JSON.stringify({ msg: 'model file fetched', key }));
}
