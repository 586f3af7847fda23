// Turns the zod schemas into CustomResourceDefinitions: structural OpenAPI v3 with defaults, enums,
// bounds and CEL rules (carried in zod metadata), a status subresource, printer columns and short names.
import { z } from 'zod';
import { GROUP, VERSION } from './group.js';

type JsonSchema = { [key: string]: unknown };

export interface CrdSource {
  kind: string;
  plural: string;
  shortNames: string[];
  spec: z.ZodType;
  status: z.ZodType;
  printerColumns: readonly { name: string; type: string; jsonPath: string; description?: string; priority?: number }[];
  description: string;
  /** CEL rules on the whole object (e.g. on metadata.name). */
  rootRules?: { rule: string; message: string; fieldPath?: string }[];
}

const JS_SAFE_INTEGER = Number.MAX_SAFE_INTEGER;

/** Rewrites zod's JSON Schema into a Kubernetes structural schema. */
export function toStructural(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toStructural);
  if (node === null || typeof node !== 'object') return node;
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(node as JsonSchema)) {
    if (key === '$schema' || key === 'id') continue;
    // Structural schemas forbid additionalProperties: false; the API server prunes unknown fields instead.
    if (key === 'additionalProperties' && value === false) continue;
    out[key] = key === 'properties' ? mapValues(value as JsonSchema, toStructural) : toStructural(value);
  }
  if (out.maximum === JS_SAFE_INTEGER) delete out.maximum;
  if (out.minimum === -JS_SAFE_INTEGER) delete out.minimum;
  if (out.format === 'date-time') delete out.pattern;
  // z.object({}).passthrough(): an opaque object handed through untouched (e.g. a core/v1 Affinity).
  const props = out.properties as JsonSchema | undefined;
  const extra = out.additionalProperties as JsonSchema | undefined;
  if (out.type === 'object' && props && Object.keys(props).length === 0 && extra && Object.keys(extra).length === 0) {
    delete out.properties;
    delete out.additionalProperties;
    out['x-kubernetes-preserve-unknown-fields'] = true;
  }
  return out;
}

function mapValues(obj: JsonSchema, fn: (v: unknown) => unknown): JsonSchema {
  return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, fn(v)]));
}

const jsonSchema = (schema: z.ZodType, io: 'input' | 'output') =>
  toStructural(z.toJSONSchema(schema, { target: 'openapi-3.0', io, unrepresentable: 'throw' })) as JsonSchema;

export function buildCrd(src: CrdSource): JsonSchema {
  const plural = src.plural;
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${GROUP}` },
    spec: {
      group: GROUP,
      names: {
        kind: src.kind,
        listKind: `${src.kind}List`,
        plural,
        singular: src.kind.toLowerCase(),
        shortNames: src.shortNames,
        categories: ['loraplane', 'all'],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: src.printerColumns,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: src.description,
              required: ['spec'],
              ...(src.rootRules ? { 'x-kubernetes-validations': src.rootRules } : {}),
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: jsonSchema(src.spec, 'input'),
                status: jsonSchema(src.status, 'output'),
              },
            },
          },
        },
      ],
    },
  };
}
