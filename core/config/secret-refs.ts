// Secrets by reference: `CGM_X_SECRET_ARN=arn:aws:secretsmanager:…[#jsonKey]` makes `CGM_X` the
// secret's value (or one key of a JSON secret) before the configuration is read. Used where the
// platform cannot inject secrets as environment variables (the API's Lambda); ECS injects them itself.
// An explicitly set CGM_X wins over its reference.

/** Fetches a secret's string value by ARN (Secrets Manager in production, a map in tests). */
export type SecretFetcher = (arn: string) => Promise<string>;

const REF = /^(CGM_[A-Z0-9_]+)_SECRET_ARN$/;

export class SecretRefError extends Error {
  constructor(variable: string, value: string, expected: string) {
    super(`${variable}=${value}: ${expected}`);
    this.name = 'SecretRefError';
  }
}

/** Names of the variables `env` refers to by ARN and that are not set directly. */
export function pendingSecretRefs(env: Record<string, string | undefined>): string[] {
  return Object.keys(env)
    .map((k) => REF.exec(k)?.[1])
    .filter((name): name is string => name !== undefined && !env[name]?.trim())
    .sort();
}

/** Resolves every pending reference into `env` (mutated) and returns the names it set. */
export async function resolveSecretRefs(
  env: Record<string, string | undefined>,
  fetchSecret: SecretFetcher,
): Promise<string[]> {
  const names = pendingSecretRefs(env);
  for (const name of names) {
    const variable = `${name}_SECRET_ARN`;
    const raw = env[variable]!.trim();
    const [arn, jsonKey, ...rest] = raw.split('#');
    if (!arn.startsWith('arn:') || rest.length > 0 || jsonKey === '')
      throw new SecretRefError(variable, raw, 'expected a secret ARN, optionally followed by #jsonKey');
    let value: string;
    try {
      value = await fetchSecret(arn);
    } catch (err) {
      throw new SecretRefError(variable, raw, `could not read the secret (${(err as Error).message})`);
    }
    if (jsonKey !== undefined) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(value);
      } catch {
        throw new SecretRefError(variable, raw, `the secret is not JSON, so it has no key '${jsonKey}'`);
      }
      const field = (parsed as Record<string, unknown> | null)?.[jsonKey];
      if (typeof field !== 'string' || field.trim() === '')
        throw new SecretRefError(variable, raw, `the secret's JSON has no non-empty string key '${jsonKey}'`);
      value = field;
    }
    if (value.trim() === '') throw new SecretRefError(variable, raw, 'the secret is empty');
    env[name] = value;
  }
  return names;
}

/** A fetcher over AWS Secrets Manager (region and credentials from the usual AWS environment). */
export async function secretsManagerFetcher(): Promise<SecretFetcher> {
  const { SecretsManagerClient, GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
  const client = new SecretsManagerClient({});
  return async (arn) => {
    const out = await client.send(new GetSecretValueCommand({ SecretId: arn }));
    if (out.SecretString === undefined)
      throw new Error('the secret has no string value (binary secrets are not supported)');
    return out.SecretString;
  };
}

/** At process start: resolve references only when there are any (no AWS SDK load otherwise). */
export async function resolveSecretRefsFromEnv(
  env: Record<string, string | undefined> = process.env,
): Promise<string[]> {
  if (pendingSecretRefs(env).length === 0) return [];
  return resolveSecretRefs(env, await secretsManagerFetcher());
}
