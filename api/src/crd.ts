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
  exclusiveBoundsAsCel(out);
  return out;
}

/**
 * The API server checks an exclusive bound in the type of the value: a whole number such as
 * `validationSplit: 0` is compared with the bound truncated to an integer (0 < 0.5 becomes 0 < 0 and
 * fails with "should be less than 0"). A fractional exclusive bound is therefore an inclusive one
 * plus a CEL rule, which compares as doubles.
 */
function exclusiveBoundsAsCel(out: JsonSchema): void {
  const rules: { rule: string; message: string }[] = [];
  if (out.exclusiveMaximum === true && typeof out.maximum === 'number' && !Number.isInteger(out.maximum)) {
    rules.push({ rule: `self < ${out.maximum}`, message: `must be less than ${out.maximum}` });
    delete out.exclusiveMaximum;
  }
  if (out.exclusiveMinimum === true && typeof out.minimum === 'number' && !Number.isInteger(out.minimum)) {
    rules.push({ rule: `self > ${out.minimum}`, message: `must be greater than ${out.minimum}` });
    delete out.exclusiveMinimum;
  }
  if (rules.length) out['x-kubernetes-validations'] = [...((out['x-kubernetes-validations'] as unknown[]) ?? []), ...rules];
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
