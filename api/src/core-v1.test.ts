import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { affinityJsonSchema, K8S_VERSION } from './core-v1-affinity.generated.js';
import { openApiSpecPath, pinnedK8sVersion, renderAffinityModule } from './core-v1-openapi.js';
import { affinity, labelKey, labelValue, nodeSelector, nonNegativeQuantity, toleration } from './core-v1.js';
import { buildCrd, toStructural } from './crd.js';
import { fineTuneJobSpec } from './finetunejob.js';
import { FINETUNEJOB } from './resources.js';

const validAffinity = {
  nodeAffinity: {
    requiredDuringSchedulingIgnoredDuringExecution: {
      nodeSelectorTerms: [{ matchExpressions: [{ key: 'nvidia.com/gpu.product', operator: 'In', values: ['NVIDIA-H100-80GB-HBM3'] }] }],
    },
  },
  podAntiAffinity: {
    preferredDuringSchedulingIgnoredDuringExecution: [
      {
        weight: 50,
        podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { 'app.kubernetes.io/name': 'trainer' } } },
      },
    ],
  },
};

/** A schema with its `required` lists sorted (zod lists them in property order, the spec alphabetically). */
const sortRequired = (node: unknown): unknown =>
  Array.isArray(node)
    ? node.map(sortRequired)
    : node && typeof node === 'object'
      ? Object.fromEntries(Object.entries(node).map(([k, v]) => [k, k === 'required' ? [...(v as string[])].sort() : sortRequired(v)]))
      : node;

/** The issues of a failed parse as `path: message`. */
const issues = (schema: z.ZodType, value: unknown): string[] => {
  const r = schema.safeParse(value);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('core/v1 Affinity schema', () => {
  const version = pinnedK8sVersion();
  // Offline: the stale check runs where the Go module cache has k8s.io/kubernetes (the e2e binaries' build fetches it).
  const specFile = openApiSpecPath(version, { offline: true });

  it.skipIf(!specFile)('core-v1-affinity.generated.ts matches the OpenAPI spec of the pinned Kubernetes (run `npm run generate:core-schemas`)', () => {
    const spec = JSON.parse(readFileSync(specFile!, 'utf8')) as unknown;
    const generated = readFileSync(join(import.meta.dirname, 'core-v1-affinity.generated.ts'), 'utf8');
    expect(generated, 'core-v1-affinity.generated.ts is stale').toBe(renderAffinityModule(spec, version));
  });

  it('follows the Kubernetes version the test control plane is built from', () => {
    expect(K8S_VERSION).toBe(version);
  });

  it('accepts a valid affinity and returns it unchanged', () => {
    expect(affinity.parse(validAffinity)).toEqual(validAffinity);
  });

  it('rejects misspelt fields and junk', () => {
    expect(issues(affinity, { nodeAfinity: validAffinity.nodeAffinity })).toEqual([expect.stringMatching(/Unrecognized key: "nodeAfinity"/)]);
    expect(issues(affinity, [{}, {}])).toEqual([expect.stringMatching(/expected object/)]);
    expect(issues(affinity, { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{}, {}] } })).toEqual([
      expect.stringMatching(/^nodeAffinity\.requiredDuringSchedulingIgnoredDuringExecution: .*expected object/),
    ]);
    expect(issues(affinity, { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{}, {}] } })).toEqual(
      expect.arrayContaining([expect.stringMatching(/^podAntiAffinity\.preferredDuringSchedulingIgnoredDuringExecution\.0\.weight: /)]),
    );
  });

  it('checks what the core API checks beyond the OpenAPI spec: weights, operators, topologyKey', () => {
    const term = validAffinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0]!;
    const anti = (t: unknown) => ({ podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [t] } });
    expect(issues(affinity, anti({ ...term, weight: 0 }))).toHaveLength(1);
    expect(issues(affinity, anti({ ...term, weight: 101 }))).toHaveLength(1);
    expect(issues(affinity, anti({ ...term, podAffinityTerm: { topologyKey: '' } }))).toHaveLength(1);
    const expr = { nodeSelectorTerms: [{ matchExpressions: [{ key: 'a', operator: 'Equals', values: ['b'] }] }] };
    expect(issues(affinity, { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: expr } })).toHaveLength(1);
  });

  it('the CRD carries the same schema, as a structural schema', () => {
    type Node = { properties: Record<string, Node>; description?: string };
    const crd = buildCrd(FINETUNEJOB) as { spec: { versions: { schema: { openAPIV3Schema: Node } }[] } };
    const spec = crd.spec.versions[0]!.schema.openAPIV3Schema.properties.spec!;
    const { description: _description, ...node } = spec.properties.resources!.properties.affinity!;
    expect(sortRequired(node)).toEqual(sortRequired(toStructural(affinityJsonSchema)));
    expect(JSON.stringify(node)).not.toContain('x-kubernetes-preserve-unknown-fields');
  });

  it('is what a FineTuneJob spec parses resources.affinity with', () => {
    const resources = (a: unknown) => fineTuneJobSpec.shape.resources.unwrap().safeParse({ affinity: a });
    expect(resources(validAffinity).success).toBe(true);
    expect(resources({ nodeAfinity: {} }).success).toBe(false);
    expect(resources([{}, {}, {}, {}]).success).toBe(false);
  });
});

describe('core/v1 quantities, labels and tolerations', () => {
  it('accepts the non-negative quantities Kubernetes parses for resources', () => {
    for (const q of ['1', '32Gi', '500m', '1.5', '.5', '1e3', '1E-3', '+2Ki', '0', '12Ei', '1.Mi'])
      expect(nonNegativeQuantity.safeParse(q).success, q).toBe(true);
    for (const q of ['', '1..2', '.', 'Gi', '1GB', '1gi', '1 Gi', '1Gi ', '1e', '1Kii', '0x10', '--1', '-1Gi', '-0.5'])
      expect(nonNegativeQuantity.safeParse(q).success, q).toBe(false);
  });

  it('label keys are qualified names; label values at most 63 characters of the same alphabet', () => {
    for (const k of ['pool', 'nvidia.com/gpu.product', 'kubernetes.io/hostname', 'A_b.c-D', `${'a'.repeat(253)}/${'b'.repeat(63)}`]) {
      expect(labelKey.safeParse(k).success, k).toBe(true);
    }
    for (const k of ['', 'Bad Key', '-pool', 'pool-', '/pool', 'Example.com/pool', 'a..b/c', 'a/b/c', 'pool/', `${'b'.repeat(64)}`, `${'a'.repeat(254)}/b`]) {
      expect(labelKey.safeParse(k).success, k).toBe(false);
    }
    for (const v of ['', 'a', 'NVIDIA-H100-80GB-HBM3', 'x'.repeat(63)]) expect(labelValue.safeParse(v).success, v).toBe(true);
    for (const v of ['-a', 'a b', 'a/b', 'x'.repeat(64)]) expect(labelValue.safeParse(v).success, v).toBe(false);
    expect(nodeSelector.safeParse({ 'nvidia.com/gpu.product': 'H100', pool: '' }).success).toBe(true);
    expect(nodeSelector.safeParse({ 'bad key': 'a' }).success).toBe(false);
    expect(nodeSelector.safeParse({ pool: 'not a value' }).success).toBe(false);
  });

  it('tolerations follow core/v1 validation', () => {
    for (const t of [
      { key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' },
      { key: 'dedicated', operator: 'Equal', value: 'ml', effect: 'NoSchedule' },
      { key: 'dedicated', value: 'ml' },
      { operator: 'Exists' },
      { key: '', operator: 'Exists' },
      { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
    ]) {
      expect(issues(toleration, t), JSON.stringify(t)).toEqual([]);
    }
    expect(issues(toleration, { key: 'a', operator: 'Exists', value: 'abc' })).toEqual(['value: value must be empty when operator is Exists']);
    expect(issues(toleration, { key: 'a', effect: 'NoSchedule', tolerationSeconds: 60 })).toEqual([
      'effect: effect must be NoExecute when tolerationSeconds is set',
    ]);
    expect(issues(toleration, { key: 'a', tolerationSeconds: 60 })).toEqual(['effect: effect must be NoExecute when tolerationSeconds is set']);
    expect(issues(toleration, { value: 'a' })).toEqual([expect.stringMatching(/^operator: operator must be Exists when key is empty/)]);
    expect(issues(toleration, { key: 'bad key', operator: 'Exists' })).toEqual([expect.stringMatching(/^key: /)]);
    expect(issues(toleration, { key: 'a', value: 'not a label value' })).toEqual([expect.stringMatching(/^value: /)]);
  });
});
