// Where the images of a verified delivery are, each with the id that makes its run unique. Webhook
// kinds read the trigger's JSON pointers; S3 events are read in the three envelopes AWS uses: an
// EventBridge "Object Created" event, an S3 notification ({Records: [...]}), and either one inside an
// SNS message. An S3 record's id is its bucket, key and sequencer, so the same event arriving again (or
// through another channel) names the same run.
import { ApiError } from '../errors.js';
import { resolvePointer } from './json-pointer.js';
import type { ImageLocation } from './schemas.js';

/** Images one delivery may name; more is refused (a trigger is not a batch). */
export const MAX_IMAGES_PER_DELIVERY = 25;

export type ImageSource = { kind: 'url'; url: string } | { kind: 's3'; bucket: string; key: string };

export interface LocatedImage {
  /** Unique per image of the delivery: the delivery id, with an index or the S3 record's identity. */
  deliveryId: string;
  source: ImageSource;
  /** Where in the payload it was found, for error messages. */
  field: string;
}

export type DeliveryContent =
  | { kind: 'images'; images: LocatedImage[] }
  | { kind: 'sns-subscription'; subscribeUrl: string; messageId: string }
  | { kind: 'sns-unsubscribe' };

const missing = (message: string, field: string | null = null) =>
  new ApiError('image_missing', message, field);

export function describeSource(s: ImageSource): string {
  return s.kind === 'url' ? s.url : `s3://${s.bucket}/${s.key}`;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);
const str = (v: unknown) => (typeof v === 'string' && v.length > 0 ? v : undefined);

function fromPointers(
  doc: unknown,
  location: Exclude<ImageLocation, { from: 's3-record' }>,
  deliveryId: string,
): LocatedImage[] {
  if (location.from === 's3') {
    const bucket = str(resolvePointer(doc, location.bucketPointer));
    const key = str(resolvePointer(doc, location.keyPointer));
    if (!bucket)
      throw missing(`no bucket name (a string) at ${location.bucketPointer}`, location.bucketPointer);
    if (!key) throw missing(`no object key (a string) at ${location.keyPointer}`, location.keyPointer);
    return [{ deliveryId, source: { kind: 's3', bucket, key }, field: location.keyPointer }];
  }
  const value = resolvePointer(doc, location.pointer);
  const urls = Array.isArray(value) ? value : [value];
  if (value === undefined || urls.length === 0)
    throw missing(`no image URL at ${location.pointer}: the payload has nothing there`, location.pointer);
  if (urls.length > MAX_IMAGES_PER_DELIVERY)
    throw new ApiError(
      'validation_error',
      `${urls.length} image URLs at ${location.pointer}; at most ${MAX_IMAGES_PER_DELIVERY} per delivery`,
      location.pointer,
    );
  return urls.map((u, i) => {
    const field = Array.isArray(value) ? `${location.pointer}/${i}` : location.pointer;
    const url = str(u);
    if (!url) throw missing(`the value at ${field} is not a URL string`, field);
    return {
      deliveryId: Array.isArray(value) ? `${deliveryId}#${i}` : deliveryId,
      source: { kind: 'url', url },
      field,
    };
  });
}

const s3Id = (bucket: string, key: string, sequencer: string) => `s3:${bucket}/${key}@${sequencer}`;

/** S3 notification keys are URL-encoded with '+' for spaces. */
const decodeS3Key = (key: string) => decodeURIComponent(key.replace(/\+/g, ' '));

function fromS3Event(doc: unknown, path: string): LocatedImage[] {
  if (!isObject(doc)) throw missing('the payload is not a JSON object');
  // EventBridge: one object per event.
  if (doc.source === 'aws.s3' && isObject(doc.detail)) {
    if (doc['detail-type'] !== 'Object Created')
      throw missing(
        `an EventBridge '${String(doc['detail-type'])}' event names no new image`,
        `${path}detail-type`,
      );
    const bucket = str(isObject(doc.detail.bucket) ? doc.detail.bucket.name : undefined);
    const object = isObject(doc.detail.object) ? doc.detail.object : {};
    const key = str(object.key);
    const sequencer = str(object.sequencer) ?? str(doc.id);
    if (!bucket || !key || !sequencer)
      throw missing(
        'the EventBridge event lacks detail.bucket.name, detail.object.key or detail.object.sequencer',
        `${path}detail`,
      );
    return [
      {
        deliveryId: s3Id(bucket, key, sequencer),
        source: { kind: 's3', bucket, key },
        field: `${path}detail.object.key`,
      },
    ];
  }
  if (Array.isArray(doc.Records)) {
    if (doc.Records.length > MAX_IMAGES_PER_DELIVERY)
      throw new ApiError(
        'validation_error',
        `${doc.Records.length} records; at most ${MAX_IMAGES_PER_DELIVERY} per delivery`,
        `${path}Records`,
      );
    const images: LocatedImage[] = [];
    for (const [i, r] of doc.Records.entries()) {
      const at = `${path}Records[${i}]`;
      if (!isObject(r) || !isObject(r.s3)) throw missing(`${at} is not an S3 event record`, at);
      // Only new objects are images to edit; deletions, restores and the like are not.
      if (!String(r.eventName ?? '').startsWith('ObjectCreated:')) continue;
      const bucket = str(isObject(r.s3.bucket) ? r.s3.bucket.name : undefined);
      const object = isObject(r.s3.object) ? r.s3.object : {};
      const rawKey = str(object.key);
      const sequencer = str(object.sequencer);
      if (!bucket || !rawKey || !sequencer)
        throw missing(`${at} lacks s3.bucket.name, s3.object.key or s3.object.sequencer`, `${at}.s3`);
      let key: string;
      try {
        key = decodeS3Key(rawKey);
      } catch {
        throw new ApiError(
          'validation_error',
          `${at}.s3.object.key '${rawKey}' is not URL-encoded text`,
          `${at}.s3.object.key`,
        );
      }
      images.push({
        deliveryId: s3Id(bucket, key, sequencer),
        source: { kind: 's3', bucket, key },
        field: `${at}.s3.object.key`,
      });
    }
    if (images.length === 0)
      throw missing(`none of the ${doc.Records.length} records is an ObjectCreated event`, `${path}Records`);
    return images;
  }
  if (doc.Event === 's3:TestEvent')
    throw missing(
      'an s3:TestEvent names no image (S3 sends it when notifications are set up)',
      `${path}Event`,
    );
  throw missing(
    'the payload is neither an EventBridge S3 event, an S3 notification with Records, nor an SNS message carrying one',
  );
}

export function locateImages(
  doc: unknown,
  location: ImageLocation,
  deliveryId: string | null,
): DeliveryContent {
  if (location.from !== 's3-record') {
    if (deliveryId === null) throw new Error('webhook deliveries always have an id');
    return { kind: 'images', images: fromPointers(doc, location, deliveryId) };
  }
  if (isObject(doc) && typeof doc.Type === 'string' && typeof doc.TopicArn === 'string') {
    if (doc.Type === 'SubscriptionConfirmation') {
      const subscribeUrl = str(doc.SubscribeURL);
      if (!subscribeUrl)
        throw new ApiError(
          'validation_error',
          'an SNS SubscriptionConfirmation without SubscribeURL',
          'SubscribeURL',
        );
      return { kind: 'sns-subscription', subscribeUrl, messageId: String(doc.MessageId ?? '') };
    }
    if (doc.Type === 'UnsubscribeConfirmation') return { kind: 'sns-unsubscribe' };
    if (doc.Type !== 'Notification') throw missing(`an SNS '${doc.Type}' message names no image`, 'Type');
    let inner: unknown;
    try {
      inner = JSON.parse(String(doc.Message ?? ''));
    } catch {
      throw missing('the SNS Message is not JSON of an S3 event', 'Message');
    }
    return { kind: 'images', images: fromS3Event(inner, 'Message.') };
  }
  return { kind: 'images', images: fromS3Event(doc, '') };
}
