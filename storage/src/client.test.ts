import { describe, expect, it } from 'vitest';
import { credentialsFromEnv, s3ClientFor } from './client.js';

const location = { bucket: 'models', prefix: '', region: 'eu-central-1', forcePathStyle: true, endpoint: 'http://s3.storage:9000' };

describe('credentialsFromEnv', () => {
  it("reads the role's env vars, session token included", () => {
    const env = {
      LORAPLANE_BASE_MODEL_AWS_ACCESS_KEY_ID: 'id',
      LORAPLANE_BASE_MODEL_AWS_SECRET_ACCESS_KEY: 'secret',
      LORAPLANE_BASE_MODEL_AWS_SESSION_TOKEN: 'token',
      LORAPLANE_DATASET_AWS_ACCESS_KEY_ID: 'other',
    };
    expect(credentialsFromEnv('baseModel', location, env)).toEqual({ accessKeyId: 'id', secretAccessKey: 'secret', sessionToken: 'token' });
  });

  it('is undefined (the default chain) without env vars or a Secret', () => {
    expect(credentialsFromEnv('output', location, {})).toBeUndefined();
  });

  it('a named Secret without its env vars, or half a pair, is a configuration error', () => {
    expect(() => credentialsFromEnv('output', { ...location, credentialsSecret: { name: 's3-creds' } }, {})).toThrow(
      /LORAPLANE_OUTPUT_AWS_ACCESS_KEY_ID and LORAPLANE_OUTPUT_AWS_SECRET_ACCESS_KEY are not set \(the location names Secret "s3-creds"\)/,
    );
    expect(() => credentialsFromEnv('dataset', location, { LORAPLANE_DATASET_AWS_ACCESS_KEY_ID: 'id' })).toThrow(
      /LORAPLANE_DATASET_AWS_SECRET_ACCESS_KEY is not set/,
    );
  });
});

describe('s3ClientFor', () => {
  it('takes endpoint, region and path-style from the location and turns the SDK retries off', async () => {
    const client = s3ClientFor(location, 'output', { env: { LORAPLANE_OUTPUT_AWS_ACCESS_KEY_ID: 'id', LORAPLANE_OUTPUT_AWS_SECRET_ACCESS_KEY: 's' } });
    expect(await client.config.region()).toBe('eu-central-1');
    expect(client.config.forcePathStyle).toBe(true);
    expect(await client.config.maxAttempts()).toBe(1);
    const creds = await client.config.credentials();
    expect(creds).toMatchObject({ accessKeyId: 'id', secretAccessKey: 's' });
    const endpoint = await client.config.endpoint?.();
    expect(endpoint?.hostname).toBe('s3.storage');
    client.destroy();
  });
});
