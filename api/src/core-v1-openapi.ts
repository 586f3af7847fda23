// Core/v1 schemas taken from the Kubernetes OpenAPI v3 spec of the pinned k8s.io/kubernetes module
// (K8S_VERSION in test/cluster/build-binaries.sh): the named definition with every $ref inlined,
// descriptions and defaults dropped, unknown fields rejected. The generator
// (generate-core-schemas.ts) writes the result to core-v1-affinity.generated.ts; the staleness test
// renders it again and compares.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export type JsonSchema = { [key: string]: unknown };

const repo = join(import.meta.dirname, '../..');

/** The Kubernetes version the test control plane is built from; the schemas follow it. */
export function pinnedK8sVersion(): string {
  const script = readFileSync(join(repo, 'test/cluster/build-binaries.sh'), 'utf8');
  const version = /K8S_VERSION="\$\{K8S_VERSION:-(v[0-9.]+)\}"/.exec(script)?.[1];
  if (!version) throw new Error('K8S_VERSION not found in test/cluster/build-binaries.sh');
  return version;
}

/**
 * api/openapi-spec/v3/api__v1_openapi.json of k8s.io/kubernetes@version, from the Go module cache
 * (`go mod download`); offline, only what is already cached is used (undefined when it is not).
 */
export function openApiSpecPath(version: string, { offline = false } = {}): string | undefined {
  let dir: string;
  try {
    const out = execFileSync('go', ['mod', 'download', '-json', `k8s.io/kubernetes@${version}`], {
      cwd: repo,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, GO111MODULE: 'on', GOFLAGS: '-mod=mod', ...(offline ? { GOPROXY: 'off' } : {}) },
    });
    dir = (JSON.parse(out) as { Dir: string }).Dir;
  } catch (err) {
    if (offline) return undefined;
    throw err;
  }
  const file = join(dir, 'api/openapi-spec/v3/api__v1_openapi.json');
  if (!existsSync(file)) throw new Error(`${file} missing`);
  return file;
}

/**
 * Checks the core API makes (pkg/apis/core/validation, apimachinery's ValidateLabelSelector) that the
 * OpenAPI spec does not carry, added to the generated schema so the CRD rejects them too.
 */
const CORE_VALIDATION: Record<string, Record<string, JsonSchema>> = {
  'io.k8s.api.core.v1.PreferredSchedulingTerm': { weight: { minimum: 1, maximum: 100 } },
  'io.k8s.api.core.v1.WeightedPodAffinityTerm': { weight: { minimum: 1, maximum: 100 } },
  'io.k8s.api.core.v1.NodeSelectorRequirement': { operator: { enum: ['In', 'NotIn', 'Exists', 'DoesNotExist', 'Gt', 'Lt'] } },
  'io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement': { operator: { enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'] } },
  'io.k8s.api.core.v1.PodAffinityTerm': { topologyKey: { minLength: 1 } },
};

/** The keys of a spec schema node that the generated schema keeps. */
const KEPT = new Set(['type', 'format', 'enum', 'required', 'x-kubernetes-list-type', 'x-kubernetes-map-type', 'x-kubernetes-list-map-keys']);

/** The definition `name` of an OpenAPI v3 document with its $refs inlined (no cycles expected). */
export function inlineDefinition(spec: unknown, name: string): JsonSchema {
  const schemas = (spec as { components: { schemas: Record<string, JsonSchema> } }).components.schemas;
  const resolve = (ref: string, seen: string[]): JsonSchema => {
    const def = ref.replace('#/components/schemas/', '');
    if (seen.includes(def)) throw new Error(`recursive schema: ${[...seen, def].join(' -> ')}`);
    const schema = schemas[def];
    if (!schema) throw new Error(`no definition ${def}`);
    return walk(schema, [...seen, def]);
  };
  const walk = (node: JsonSchema, seen: string[]): JsonSchema => {
    // A $ref with siblings (description, default) is written allOf: [{$ref}].
    const ref = (node.$ref ?? (node.allOf as JsonSchema[] | undefined)?.[0]?.$ref) as string | undefined;
    if (ref) {
      if (node.allOf && (node.allOf as unknown[]).length !== 1) throw new Error('allOf with more than a $ref');
      return resolve(ref, seen);
    }
    const out: JsonSchema = {};
    for (const [key, value] of Object.entries(node)) if (KEPT.has(key)) out[key] = value;
    if (node.properties) {
      const extra = CORE_VALIDATION[seen.at(-1) ?? ''] ?? {};
      out.properties = Object.fromEntries(
        Object.entries(node.properties as Record<string, JsonSchema>).map(([k, v]) => [k, { ...walk(v, seen), ...extra[k] }]),
      );
      out.additionalProperties = false;
    } else if (node.additionalProperties !== undefined) {
      out.additionalProperties = walk(node.additionalProperties as JsonSchema, seen);
    }
    if (node.items) out.items = walk(node.items as JsonSchema, seen);
    return out;
  };
  return resolve(`#/components/schemas/${name}`, []);
}

const AFFINITY = 'io.k8s.api.core.v1.Affinity';

/** The text of core-v1-affinity.generated.ts for the given spec. */
export function renderAffinityModule(spec: unknown, version: string): string {
  const schema = inlineDefinition(spec, AFFINITY);
  return [
    `// Generated by \`npm run generate:core-schemas\` from ${AFFINITY} in the OpenAPI v3 spec of`,
    `// k8s.io/kubernetes@${version} (api/openapi-spec/v3/api__v1_openapi.json). Do not edit.`,
    "import type { JsonSchema } from './core-v1-openapi.js';",
    '',
    `export const K8S_VERSION = '${version}';`,
    '',
    `export const affinityJsonSchema: JsonSchema = ${JSON.stringify(schema, null, 2)};`,
    '',
  ].join('\n');
}
