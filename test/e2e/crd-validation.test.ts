// Invalid FineTuneJobs are rejected by the API server itself (CRD schema + CEL), with a message
// that names the field. Nothing of loraplane's runs here but the CRDs.
import { beforeAll, describe, expect, it } from 'vitest';
import { kubectl } from '../cluster/cluster.js';
import { exampleDocs, freshNamespace, installCrds, mustKubectl, toYaml, type Json } from './support/resources.js';

// biome-ignore lint/suspicious/noExplicitAny: free-form edits of test documents, deliberately invalid ones included, at any depth
type Spec = Record<string, any>;
const base = exampleDocs().fineTuneJob as Json & { spec: Spec };
const withSpec = (name: string, edit: (spec: Spec) => void): Json => {
  const copy = structuredClone(base);
  edit(copy.spec);
  return { ...copy, metadata: { name } };
};
const at = (spec: Spec, path: string): Spec => path.split('.').reduce((o, k) => o[k] as Spec, spec);

const creationCases: [string, (spec: Spec) => void, RegExp][] = [
  ['missing base model', (s) => delete s.baseModel, /spec\.baseModel: Required value/],
  ['gpus: 0', (s) => (at(s, 'resources').gpus = 0), /spec\.resources\.gpus: Invalid value: 0: .*greater than or equal to 1/],
  ['both epochs and maxSteps', (s) => (at(s, 'training').maxSteps = 100), /spec\.training\.epochs: Invalid value: .*exactly one of epochs or maxSteps/],
  ['neither epochs nor maxSteps', (s) => delete at(s, 'training').epochs, /spec\.training\.epochs: Invalid value: .*exactly one of epochs or maxSteps/],
  [
    'a WorkloadPriorityClass without a queue',
    (s) => (s.workloadPriorityClassName = 'research-high'),
    /spec\.workloadPriorityClassName: Invalid value: .*needs spec\.queueName/,
  ],
  [
    'a WorkloadPriorityClass name that is not a DNS subdomain',
    (s) => Object.assign(s, { queueName: 'q', workloadPriorityClassName: 'High_Priority' }),
    /spec\.workloadPriorityClassName: Invalid value: "High_Priority"/,
  ],
  ['bad method enum', (s) => (s.method = 'full'), /spec\.method: Unsupported value: "full"/],
  ['bad quantization type', (s) => (s.quantization = { type: 'int8' }), /spec\.quantization\.type: Unsupported value: "int8"/],
  [
    'float16 compute (no backend computes in it)',
    (s) => (s.quantization = { computeDtype: 'float16' }),
    /spec\.quantization\.computeDtype: Unsupported value: "float16"/,
  ],
  ['negative learning rate', (s) => (at(s, 'training').learningRate = -0.001), /spec\.training\.learningRate: Invalid value: -0\.001/],
  ['validationSplit 0.5', (s) => (at(s, 'dataset').validationSplit = 0.5), /spec\.dataset\.validationSplit: Invalid value: "number": must be less than 0\.5/],
  ['negative validationSplit', (s) => (at(s, 'dataset').validationSplit = -0.1), /spec\.dataset\.validationSplit: Invalid value: -0\.1/],
  ['unknown target module', (s) => (at(s, 'lora').targetModules = ['q_proj', 'lm_head']), /spec\.lora\.targetModules\[1\]: Unsupported value: "lm_head"/],
  ['repeated target module', (s) => (at(s, 'lora').targetModules = ['q_proj', 'q_proj']), /spec\.lora\.targetModules\[1\]: Duplicate value: "q_proj"/],
  ['formats without peft', (s) => (at(s, 'output').formats = ['gguf']), /spec\.output\.formats: Invalid value: .*peft is always written/],
  ['repeated format', (s) => (at(s, 'output').formats = ['peft', 'gguf', 'gguf']), /spec\.output\.formats\[2\]: Duplicate value: "gguf"/],
  ['lora r 0', (s) => (at(s, 'lora').r = 0), /spec\.lora\.r: Invalid value: 0/],
  ['dropout 1', (s) => (at(s, 'lora').dropout = 1), /spec\.lora\.dropout: Invalid value: 1/],
  ['blockSize not a power of two', (s) => (s.quantization = { blockSize: 100 }), /spec\.quantization\.blockSize: Invalid value: .*power of two/],
  [
    'source with both s3 and pvc',
    (s) => (at(s, 'baseModel.source').pvc = { claimName: 'models' }),
    /spec\.baseModel\.source: Invalid value: .*exactly one of s3 or pvc/,
  ],
  ['source with neither s3 nor pvc', (s) => (at(s, 'dataset').source = {}), /spec\.dataset\.source: Invalid value: .*exactly one of s3 or pvc/],
  ['missing adapter name', (s) => delete at(s, 'output').adapterName, /spec\.output\.adapterName: Required value/],
  ['invalid bucket name', (s) => (at(s, 'output.storage.s3').bucket = 'My_Bucket'), /spec\.output\.storage\.s3\.bucket: Invalid value: "My_Bucket"/],
  [
    'loadBestModelAtEnd without evalSteps',
    (s) => Object.assign(at(s, 'training'), { loadBestModelAtEnd: true, evalSteps: undefined }),
    /spec\.training\.evalSteps: Invalid value: .*loadBestModelAtEnd needs evalSteps/,
  ],
  ['misspelt field', (s) => (at(s, 'training').epoch = 3), /unknown field "spec\.training\.epoch"/],
  // What the core API would refuse in the trainer's Job is refused here, at the same field.
  ['negative memory', (s) => (at(s, 'resources').memory = '-1Gi'), /spec\.resources\.memory: Invalid value: "-1Gi": .*should match/],
  ['malformed cpu quantity', (s) => (at(s, 'resources').cpu = '2 cores'), /spec\.resources\.cpu: Invalid value: "2 cores": .*should match/],
  [
    'toleration Exists with a value',
    (s) => (at(s, 'resources').tolerations = [{ key: 'a', operator: 'Exists', value: 'abc' }]),
    /spec\.resources\.tolerations\[0\]\.value: Invalid value: .*value must be empty when operator is Exists/,
  ],
  [
    'tolerationSeconds with NoSchedule',
    (s) => (at(s, 'resources').tolerations = [{ key: 'a', operator: 'Exists', effect: 'NoSchedule', tolerationSeconds: 60 }]),
    /spec\.resources\.tolerations\[0\]\.effect: Invalid value: .*effect must be NoExecute when tolerationSeconds is set/,
  ],
  [
    'toleration without key or Exists',
    (s) => (at(s, 'resources').tolerations = [{ value: 'ml', effect: 'NoSchedule' }]),
    /spec\.resources\.tolerations\[0\]\.operator: Invalid value: .*operator must be Exists when key is empty/,
  ],
  [
    'toleration key not a label key',
    (s) => (at(s, 'resources').tolerations = [{ key: 'bad key', operator: 'Exists' }]),
    /spec\.resources\.tolerations\[0\]\.key: Invalid value: "bad key": .*should match/,
  ],
  [
    'toleration value not a label value',
    (s) => (at(s, 'resources').tolerations = [{ key: 'a', value: 'not a value' }]),
    /spec\.resources\.tolerations\[0\]\.value: Invalid value: "not a value": .*should match/,
  ],
  [
    'nodeSelector key not a label key',
    (s) => (at(s, 'resources').nodeSelector = { 'bad key!': 'a' }),
    /spec\.resources\.nodeSelector: Invalid value: .*every key must be a label key/,
  ],
  [
    'nodeSelector key prefix over 253 characters',
    (s) => (at(s, 'resources').nodeSelector = { [`${'a'.repeat(254)}/b`]: 'a' }),
    /spec\.resources\.nodeSelector: Invalid value: .*every key must be a label key/,
  ],
  [
    'nodeSelector value not a label value',
    (s) => (at(s, 'resources').nodeSelector = { pool: 'not a value' }),
    /spec\.resources\.nodeSelector\.pool: Invalid value: "not a value": .*should match/,
  ],
  ['misspelt affinity field', (s) => (at(s, 'resources').affinity = { nodeAfinity: {} }), /unknown field "spec\.resources\.affinity\.nodeAfinity"/],
  ['affinity junk', (s) => (at(s, 'resources').affinity = [{}, {}, {}, {}]), /spec\.resources\.affinity: Invalid value: "array": .*must be of type object/],
  [
    'node affinity junk',
    (s) => (at(s, 'resources').affinity = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{}, {}] } }),
    /spec\.resources\.affinity\.nodeAffinity\.requiredDuringSchedulingIgnoredDuringExecution: Invalid value: "array": .*must be of type object/,
  ],
  [
    'affinity weight 0',
    (s) =>
      (at(s, 'resources').affinity = {
        podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 0, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname' } }] },
      }),
    /spec\.resources\.affinity\.podAntiAffinity\.preferredDuringSchedulingIgnoredDuringExecution\[0\]\.weight: Invalid value: 0: .*greater than or equal to 1/,
  ],
  [
    'affinity without a required field',
    (s) => (at(s, 'resources').affinity = { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: {} }] } }),
    /spec\.resources\.affinity\.podAffinity\.requiredDuringSchedulingIgnoredDuringExecution\[0\]\.topologyKey: Required value/,
  ],
];

/** Scheduling constraints as the core API accepts them in a pod spec. */
const scheduling = {
  nodeSelector: { 'nvidia.com/gpu.product': 'NVIDIA-H100-80GB-HBM3', pool: '' },
  tolerations: [
    { key: 'dedicated', operator: 'Equal', value: 'ml', effect: 'NoSchedule' },
    { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
    { operator: 'Exists' },
  ],
  affinity: {
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: [{ matchExpressions: [{ key: 'topology.kubernetes.io/zone', operator: 'In', values: ['zone-a', 'zone-b'] }] }],
      },
    },
    podAntiAffinity: {
      preferredDuringSchedulingIgnoredDuringExecution: [
        { weight: 50, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { 'app.kubernetes.io/name': 'trainer' } } } },
      ],
    },
  },
};

const updateCases: [string, (spec: Spec) => void, RegExp][] = [
  ['mutated training (immutable)', (s) => (at(s, 'training').learningRate = 0.001), /spec\.training: Invalid value: "object": spec\.training is immutable/],
  [
    'mutated base model (immutable)',
    (s) => (at(s, 'baseModel').name = 'other/model'),
    /spec\.baseModel: Invalid value: "object": spec\.baseModel is immutable/,
  ],
  ['mutated GPU count (immutable)', (s) => (at(s, 'resources').gpus = 2), /spec\.resources: Invalid value: "object": spec\.resources is immutable/],
  ['queue added after creation', (s) => (s.queueName = 'gpu-queue'), /spec\.queueName: Invalid value: .*cannot be added or removed after creation/],
];

describe('FineTuneJob validation by the API server', () => {
  let ns: string;
  beforeAll(async () => {
    await installCrds();
    ns = await freshNamespace('validation');
  });

  it('accepts the example and fills in the defaults', async () => {
    await mustKubectl(['apply', '-n', ns, '-f', '-'], toYaml(withSpec('valid', () => {})));
    const stored = JSON.parse(await mustKubectl(['get', 'ftj', 'valid', '-n', ns, '-o', 'json']));
    expect(stored.spec.lora.targetModules).toEqual(['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']);
    expect(stored.spec.quantization).toEqual({ type: 'nf4', doubleQuant: true, blockSize: 64, computeDtype: 'bfloat16' });
    expect(stored.spec.training.warmupRatio).toBe(0.03);
    expect(stored.spec.backoffLimit).toBe(3);
    expect(stored.spec.output.formats).toEqual(['peft']);
  });

  it('accepts core/v1 node selectors, tolerations and affinity, and stores them as given', async () => {
    await mustKubectl(['apply', '-n', ns, '-f', '-'], toYaml(withSpec('scheduling', (s) => Object.assign(at(s, 'resources'), scheduling))));
    const stored = JSON.parse(await mustKubectl(['get', 'ftj', 'scheduling', '-n', ns, '-o', 'json']));
    expect(stored.spec.resources).toMatchObject(scheduling);
  });

  it('rejects a name longer than 63 characters', async () => {
    const r = await kubectl(['apply', '-n', ns, '-f', '-'], { input: toYaml(withSpec('x'.repeat(64), () => {})) });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Invalid value: .*metadata\.name must be at most 63 characters/);
  });

  it.each(creationCases.map((c, i) => [...c, i] as const))('rejects %s', async (_name, edit, message, i) => {
    const r = await kubectl(['apply', '-n', ns, '-f', '-'], { input: toYaml(withSpec(`invalid-${i}`, edit)) });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
  });

  it.each(updateCases)('rejects an update: %s', async (_name, edit, message) => {
    await mustKubectl(['apply', '-n', ns, '-f', '-'], toYaml(withSpec('immutable', () => {})));
    const r = await kubectl(['apply', '-n', ns, '-f', '-'], { input: toYaml(withSpec('immutable', edit)) });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
  });

  it('allows the fields meant to change: suspend and deadlines', async () => {
    await mustKubectl(['apply', '-n', ns, '-f', '-'], toYaml(withSpec('mutable', () => {})));
    const edited = withSpec('mutable', (s) => Object.assign(s, { suspend: true, activeDeadlineSeconds: 600 }));
    await mustKubectl(['apply', '-n', ns, '-f', '-'], toYaml(edited));
    const stored = JSON.parse(await mustKubectl(['get', 'ftj', 'mutable', '-n', ns, '-o', 'json']));
    expect(stored.spec.suspend).toBe(true);
  });
});
