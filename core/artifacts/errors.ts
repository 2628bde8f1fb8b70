// Typed artifact-store failures. Each says which object and what to do, so an activity can map
// them to non-retryable failures (corruption, schema) or let transient ones retry.

export class ArtifactNotFoundError extends Error {
  constructor(
    readonly bucket: string,
    readonly key: string,
  ) {
    super(`artifact s3://${bucket}/${key} does not exist; it was never written or has been deleted`);
    this.name = 'ArtifactNotFoundError';
  }
}

/** Stored bytes do not hash to the sha256 in the reference: the object is corrupt or was overwritten. */
export class ArtifactIntegrityError extends Error {
  constructor(
    readonly bucket: string,
    readonly key: string,
    readonly expectedSha256: string,
    readonly actualSha256: string,
    readonly expectedBytes: number,
    readonly actualBytes: number,
  ) {
    super(
      `artifact s3://${bucket}/${key} is corrupt: expected sha256 ${expectedSha256} (${expectedBytes} bytes), ` +
        `got ${actualSha256} (${actualBytes} bytes); delete the object and re-run the step that produced it`,
    );
    this.name = 'ArtifactIntegrityError';
  }
}

/** JSON artifact that does not parse or does not match the expected schema. */
export class ArtifactSchemaError extends Error {
  constructor(
    readonly bucket: string,
    readonly key: string,
    readonly detail: string,
  ) {
    super(`artifact s3://${bucket}/${key} is not the expected JSON: ${detail}`);
    this.name = 'ArtifactSchemaError';
  }
}
