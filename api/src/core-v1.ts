// Core/v1 pieces that loraplane hands to the trainer's pod, validated as the core API validates
// them (pkg/apis/core/validation), so that a FineTuneJob the API server accepts never becomes a Job
// it refuses. Single-field rules are patterns and bounds (checked by zod and by the CRD's OpenAPI
// schema alike); cross-field rules are CEL on the CRD and the same checks in zod.
import type { V1Affinity } from '@kubernetes/client-node';
import { z } from 'zod';
import { cel, type CelRule } from './common.js';
import { affinityJsonSchema } from './core-v1-affinity.generated.js';
import type { JsonSchema } from './core-v1-openapi.js';

// Kubernetes' quantity syntax (k8s.io/apimachinery resource.Quantity; the OpenAPI int-or-string pattern)
// without a sign of '-': resource requests and limits, and emptyDir sizes, must not be negative.
const NON_NEGATIVE_QUANTITY = /^\+?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$/;

/** A quantity that may be a resource request or limit: `32Gi`, `500m`, `4`; never negative. */
export const nonNegativeQuantity = z.string().regex(NON_NEGATIVE_QUANTITY).meta({ description: 'A non-negative Kubernetes quantity such as 32Gi or 500m.' });

// Label key (a qualified name): an optional DNS-subdomain prefix and '/', then a name of at most 63
// characters. Written without backslashes so that it reads the same in a CEL string literal.
const LABEL_NAME = '[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?';
const DNS_SUBDOMAIN = '[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*';
export const LABEL_KEY_PATTERN = `^(${DNS_SUBDOMAIN}[/])?${LABEL_NAME}$`;
/** The prefix of a label key is a DNS subdomain: at most 253 characters. A pattern cannot say so; CEL can. */
const prefixFits = (key: string): boolean => !key.includes('/') || key.indexOf('/') <= 253;
const prefixFitsCel = (key: string): string => `!${key}.contains('/') || ${key}.indexOf('/') <= 253`;
const LABEL_KEY_MESSAGE =
  'must be a label key: an optional DNS subdomain prefix of at most 253 characters and "/", then a name of at most 63 characters (alphanumerics, "-", "_" or ".") that starts and ends with an alphanumeric';
const LABEL_KEY_MAX = 253 + 1 + 63;

/** A label key, e.g. `nvidia.com/gpu.product` or `pool` (core validation: IsQualifiedName). */
export const labelKey = z
  .string()
  .max(LABEL_KEY_MAX)
  .regex(new RegExp(LABEL_KEY_PATTERN))
  .refine(prefixFits, { message: LABEL_KEY_MESSAGE })
  .meta(cel({ rule: prefixFitsCel('self'), message: LABEL_KEY_MESSAGE }));

/** A label value: empty, or at most 63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric. */
export const labelValue = z
  .string()
  .max(63)
  .regex(/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/);

/**
 * Label keys to label values (a nodeSelector, an object's labels). A structural schema cannot
 * constrain map keys, so CEL checks them; maxProperties bounds the rule's cost.
 */
export const labelMap = (description: string) =>
  z.record(labelKey, labelValue).meta({
    description,
    maxProperties: 64,
    ...cel({
      rule: `self.all(k, k.matches('${LABEL_KEY_PATTERN}') && (${prefixFitsCel('k')}))`,
      message: `every key ${LABEL_KEY_MESSAGE}`,
    }),
  });

export const nodeSelector = labelMap('Node labels the trainer pod requires: label keys to label values, as in a pod spec.');

/** A rule on several fields: CEL on the CRD, and the same check in zod. */
interface CrossFieldRule<T> extends CelRule {
  fieldPath: `.${string}`;
  check: (value: T) => boolean;
}

interface Toleration {
  key?: string;
  operator?: 'Exists' | 'Equal';
  value?: string;
  effect?: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
  tolerationSeconds?: number;
}

// ValidateTolerations in pkg/apis/core/validation.
const tolerationRules: CrossFieldRule<Toleration>[] = [
  {
    rule: "(has(self.key) && self.key != '') || (has(self.operator) && self.operator == 'Exists')",
    check: (t) => !!t.key || t.operator === 'Exists',
    message: 'operator must be Exists when key is empty (which matches all keys and values)',
    fieldPath: '.operator',
  },
  {
    rule: "!has(self.operator) || self.operator != 'Exists' || !has(self.value) || self.value == ''",
    check: (t) => t.operator !== 'Exists' || !t.value,
    message: 'value must be empty when operator is Exists',
    fieldPath: '.value',
  },
  {
    rule: "!has(self.tolerationSeconds) || (has(self.effect) && self.effect == 'NoExecute')",
    check: (t) => t.tolerationSeconds === undefined || t.effect === 'NoExecute',
    message: 'effect must be NoExecute when tolerationSeconds is set',
    fieldPath: '.effect',
  },
];

/** Like labelKey, and also empty (with operator Exists: every taint). */
const tolerationKey = z
  .string()
  .max(LABEL_KEY_MAX)
  .regex(new RegExp(`^(${LABEL_KEY_PATTERN.slice(1, -1)})?$`))
  .refine(prefixFits, { message: LABEL_KEY_MESSAGE })
  .meta(cel({ rule: prefixFitsCel('self'), message: LABEL_KEY_MESSAGE }));

/** A core/v1 Toleration. */
export const toleration = z
  .object({
    key: tolerationKey.optional(),
    operator: z.enum(['Exists', 'Equal']).optional().meta({ description: 'Equal when unset.' }),
    value: labelValue.optional(),
    effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']).optional().meta({ description: 'Every effect when unset.' }),
    tolerationSeconds: z.number().int().optional().meta({ description: 'Only with effect NoExecute.' }),
  })
  .strict()
  .superRefine((t, ctx) => {
    for (const r of tolerationRules) if (!r.check(t)) ctx.addIssue({ code: 'custom', message: r.message, path: [r.fieldPath.slice(1)] });
  })
  .meta(cel(...tolerationRules.map(({ check: _check, ...rule }) => rule)));

/**
 * A zod schema for the subset of JSON Schema the generated core/v1 schemas use: objects (closed),
 * maps, arrays, strings (enum, minLength), integers (format, bounds); x-kubernetes-* kept as metadata.
 */
export function zodFromJsonSchema(node: JsonSchema): z.ZodType {
  const extensions = Object.fromEntries(Object.entries(node).filter(([k]) => k.startsWith('x-kubernetes-')));
  const withMeta = <T extends z.ZodType>(s: T): T => (Object.keys(extensions).length ? s.meta(extensions) : s);
  switch (node.type) {
    case 'object': {
      if (node.properties) {
        const required = new Set((node.required as string[] | undefined) ?? []);
        const shape = Object.fromEntries(
          Object.entries(node.properties as Record<string, JsonSchema>).map(([key, child]) => {
            const schema = zodFromJsonSchema(child);
            return [key, required.has(key) ? schema : schema.optional()];
          }),
        );
        if (node.additionalProperties !== false) throw new Error('objects with properties must be closed');
        return withMeta(z.object(shape).strict());
      }
      if (typeof node.additionalProperties === 'object') {
        return withMeta(z.record(z.string(), zodFromJsonSchema(node.additionalProperties as JsonSchema)));
      }
      throw new Error('an object needs properties or additionalProperties');
    }
    case 'array':
      return withMeta(z.array(zodFromJsonSchema(node.items as JsonSchema)));
    case 'string': {
      if (node.enum) return withMeta(z.enum(node.enum as [string, ...string[]]));
      let s = z.string();
      if (typeof node.minLength === 'number') s = s.min(node.minLength);
      return withMeta(s);
    }
    case 'integer': {
      let n = z.number().int();
      if (typeof node.minimum === 'number') n = n.min(node.minimum);
      if (typeof node.maximum === 'number') n = n.max(node.maximum);
      return withMeta(node.format ? n.meta({ format: node.format }) : n);
    }
    default:
      throw new Error(`unsupported JSON Schema node ${JSON.stringify(node).slice(0, 200)}`);
  }
}

/** A core/v1 Affinity, with the schema of the pinned Kubernetes release; unknown fields are errors. */
export const affinity = zodFromJsonSchema(affinityJsonSchema) as z.ZodType<V1Affinity>;
