// Env var names the operator owns in the trainer pod. spec.trainer.env may not set them: a user's
// entry would override the trainer config, the termination-message path or the S3 credentials.
// AWS_ is reserved whole because the SDK's default chain reads many of its names (credential files,
// container credential URLs, endpoints).
export const RESERVED_ENV_PREFIXES = ['LORAPLANE_', 'AWS_'] as const;
export const RESERVED_ENV_NAMES = ['POD_NAME', 'POD_NAMESPACE', 'POD_IP', 'HOME'] as const;

export const isReservedEnvName = (name: string): boolean =>
  RESERVED_ENV_PREFIXES.some((p) => name.startsWith(p)) || (RESERVED_ENV_NAMES as readonly string[]).includes(name);
