// FineTuneJob: one QLoRA/LoRA fine-tuning run. The zod schema is the single source of the
// TypeScript types, the operator's runtime validation and the CRD in crds/ (see crd.ts).
import { z } from 'zod';
import {
  cel,
  type CelRule,
  conditionList,
  immutable,
  labelValueName,
  objectMeta,
  objectName,
  s3Location,
  sha256Digest,
  storageSource,
  timestamp,
} from './common.js';
import { RESERVED_ENV_NAMES, RESERVED_ENV_PREFIXES, isReservedEnvName } from './reserved-env.js';
import { affinity, labelMap, nodeSelector, nonNegativeQuantity, toleration } from './core-v1.js';

export const TARGET_MODULES = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;

/** A base model given as one llama.cpp .gguf file rather than a Hugging Face folder (by its path's suffix). */
export const isGgufPath = (path: string): boolean => path.toLowerCase().endsWith('.gguf');

const baseModel = z
  .object({
    name: z.string().min(1).max(256).meta({
      description: 'Model id recorded in adapter_config.json, e.g. meta-llama/Llama-3.2-3B-Instruct.',
    }),
    source: storageSource.meta({
      description:
        'Where the base model is: a Hugging Face model folder (config.json, safetensors, tokenizer), or one llama.cpp .gguf file (an S3 key or PVC path ending in .gguf; llama/Mistral, qwen2 and qwen3, F32/F16/BF16/Q8_0/Q4_0/Q4_1/Q4_K/Q5_K/Q6_K weights; the tokenizer, a byte-level BPE one, and the chat template from its metadata).',
    }),
  })
  .strict();

const dataset = z
  .object({
    source: storageSource.meta({ description: 'A JSONL/JSON file, or a folder of them.' }),
    format: z.enum(['auto', 'messages', 'prompt-completion', 'text', 'alpaca', 'sharegpt']).default('auto'),
    validationSplit: z.number().min(0).lt(0.5).default(0.1).meta({ description: 'Fraction held out for evaluation, in [0, 0.5).' }),
    seed: z.number().int().min(0).default(42),
    skipInvalidRows: z.boolean().default(false).meta({ description: 'Skip malformed rows (and count them) instead of failing.' }),
  })
  .strict();

const quantization = z
  .object({
    type: z.enum(['nf4', 'fp4']).default('nf4'),
    doubleQuant: z.boolean().default(true),
    blockSize: z
      .number()
      .int()
      .min(32)
      .max(4096)
      .default(64)
      .meta(cel({ rule: 'self in [32, 64, 128, 256, 512, 1024, 2048, 4096]', message: 'blockSize must be a power of two between 32 and 4096' })),
    computeDtype: z.enum(['bfloat16', 'float32']).default('bfloat16').meta({
      description:
        'Compute precision of the matrix products: bfloat16 (float32 accumulation; CUDA: tensor cores; CPU: the 4-bit projections round their dequantized weights, inputs and outputs to bfloat16 as bitsandbytes does with bnb_4bit_compute_dtype=torch.bfloat16, everything else float32) or float32 throughout.',
    }),
  })
  .strict();

const lora = z
  .object({
    r: z.number().int().min(1).max(1024).default(16),
    alpha: z.number().gt(0).default(32),
    dropout: z.number().min(0).lt(1).default(0.05),
    targetModules: z
      .array(z.enum(TARGET_MODULES))
      .min(1)
      .max(7)
      .default([...TARGET_MODULES])
      .meta({ 'x-kubernetes-list-type': 'set' }),
    useRslora: z.boolean().default(false).meta({ description: 'Scale by alpha/sqrt(r) instead of alpha/r.' }),
  })
  .strict();

const training = z
  .object({
    epochs: z.number().int().min(1).max(1000).optional(),
    maxSteps: z.number().int().min(1).optional(),
    batchSize: z.number().int().min(1).max(1024).default(4),
    gradientAccumulationSteps: z.number().int().min(1).max(1024).default(4),
    learningRate: z.number().gt(0).lt(1).default(0.0002),
    lrScheduler: z.enum(['linear', 'cosine', 'constant']).default('cosine'),
    warmupRatio: z.number().min(0).lt(1).default(0.03),
    weightDecay: z.number().min(0).lt(1).default(0),
    maxGradNorm: z.number().gt(0).default(1),
    maxSeqLength: z.number().int().min(16).max(131072).default(1024),
    packing: z.boolean().default(false),
    loss: z.enum(['assistant', 'completion', 'all']).default('assistant'),
    evalSteps: z.number().int().min(1).optional(),
    saveSteps: z.number().int().min(1).optional(),
    saveTotalLimit: z.number().int().min(1).default(2),
    loadBestModelAtEnd: z.boolean().default(false),
    seed: z.number().int().min(0).default(42),
  })
  .strict();
// A later .meta() replaces a key an earlier one set, so all of a node's CEL rules go in one call.
const trainingRules: CelRule[] = [
  { rule: 'has(self.epochs) != has(self.maxSteps)', message: 'exactly one of epochs or maxSteps must be set', fieldPath: '.epochs' },
  { rule: '!self.loadBestModelAtEnd || has(self.evalSteps)', message: 'loadBestModelAtEnd needs evalSteps', fieldPath: '.evalSteps' },
];

const resources = z
  .object({
    gpus: z.number().int().min(1).max(64).default(1).meta({
      description:
        'nvidia.com/gpu per trainer pod; at least 1. One data-parallel rank per GPU (NCCL between them; a CPU rank each, over Gloo, on the CPU backend): each rank takes training.batchSize rows of every micro-batch, so an optimizer step sees batchSize x gradientAccumulationSteps x nodes x gpus rows (status.parallelism).',
    }),
    nodes: z.number().int().min(1).max(64).default(1).meta({
      description:
        'Trainer pods, each with `gpus` GPUs; at least 1. The world size is nodes x gpus ranks. More than one pod runs as an Indexed Job with a headless Service: rank 0 lives in pod 0 and the other pods reach it by its DNS name. If any pod fails, every pod stops and the group restarts from the newest checkpoint; each failed pod counts against backoffLimit.',
    }),
    gpuProduct: z.string().min(1).max(63).optional().meta({
      description: 'Value of the node label nvidia.com/gpu.product, e.g. NVIDIA-H100-80GB-HBM3.',
    }),
    cpu: nonNegativeQuantity.optional(),
    memory: nonNegativeQuantity.optional(),
    sharedMemory: nonNegativeQuantity.default('8Gi').meta({ description: 'Size of the in-memory /dev/shm.' }),
    scratch: nonNegativeQuantity.default('50Gi').meta({ description: 'Size limit of the /scratch volume (model cache, checkpoints).' }),
    nodeSelector: nodeSelector.optional(),
    tolerations: z.array(toleration).max(32).optional(),
    affinity: affinity.optional().meta({ description: 'A core/v1 Affinity, checked against the Kubernetes schema and passed to the pod as is.' }),
    priorityClassName: objectName.optional(),
  })
  .strict();

export const OUTPUT_FORMATS = ['peft', 'gguf', 'merged'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];
const PEFT_REQUIRED = 'peft is always written: the LoraAdapter verifies and serves the PEFT files';

/** What the trainer writes beside the PEFT adapter. peft is required: the LoraAdapter's digest is its weights'. */
export const outputFormats = z
  .array(z.enum(OUTPUT_FORMATS))
  .min(1)
  .max(OUTPUT_FORMATS.length)
  .default(['peft'])
  .refine((f) => new Set(f).size === f.length, 'each format at most once')
  .refine((f) => f.includes('peft'), PEFT_REQUIRED)
  .meta({
    'x-kubernetes-list-type': 'set',
    ...cel({ rule: "'peft' in self", message: PEFT_REQUIRED }),
    description:
      'Files written: peft (adapter_config.json + adapter_model.safetensors, always), gguf (adapter.gguf: a GGUF LoRA adapter for llama.cpp --lora and Ollama ADAPTER, F32), merged (the base with the adapter merged over the dequantized weights the training used: merged/ as a Hugging Face folder in fp32 safetensors, and merged.gguf, F32, with the tokenizer).',
  });

const output = z
  .object({
    adapterName: objectName.meta({ description: 'Name of the LoraAdapter this job creates or updates.' }),
    storage: z.object({ s3: s3Location }).strict().meta({ description: 'Where the adapter is written.' }),
    formats: outputFormats,
    labels: labelMap(
      'Labels for the LoraAdapter this job creates (e.g. team, use case), beside the ones the operator sets (loraplane.io/finetunejob, app.kubernetes.io/managed-by), which win.',
    ).optional(),
  })
  .strict();

const RESERVED_ENV_MESSAGE = `the operator sets this variable: names starting with ${RESERVED_ENV_PREFIXES.join(' or ')} and ${RESERVED_ENV_NAMES.join(', ')} are reserved`;
const envVar = z
  .object({
    name: z
      .string()
      .min(1)
      .max(256)
      .regex(/^[-._a-zA-Z][-._a-zA-Z0-9]*$/)
      .refine((n) => !isReservedEnvName(n), { message: RESERVED_ENV_MESSAGE })
      .meta(
        cel({
          rule: [...RESERVED_ENV_PREFIXES.map((p) => `!self.startsWith('${p}')`), `!(self in [${RESERVED_ENV_NAMES.map((n) => `'${n}'`).join(', ')}])`].join(
            ' && ',
          ),
          message: RESERVED_ENV_MESSAGE,
        }),
      ),
    value: z.string().max(32768).default(''),
  })
  .strict();

const trainer = z
  .object({
    image: z.string().min(1).optional().meta({ description: 'Overrides the operator default trainer image.' }),
    serviceAccountName: objectName.optional(),
    env: z
      .array(envVar)
      .max(64)
      .optional()
      .meta({
        description:
          "Extra environment for the trainer container. Set before the operator's own variables, so a $(VAR) reference can name only an earlier entry of this list.",
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['name'],
      }),
  })
  .strict();

export const fineTuneJobSpec = z
  .object({
    baseModel: baseModel.meta(cel(immutable('spec.baseModel'))),
    dataset: dataset.meta(cel(immutable('spec.dataset'))),
    method: z
      .enum(['qlora', 'lora'])
      .default('qlora')
      .meta(cel(immutable('spec.method'))),
    quantization: quantization.default({ type: 'nf4', doubleQuant: true, blockSize: 64, computeDtype: 'bfloat16' }).meta(cel(immutable('spec.quantization'))),
    lora: lora.default({ r: 16, alpha: 32, dropout: 0.05, targetModules: [...TARGET_MODULES], useRslora: false }).meta(cel(immutable('spec.lora'))),
    training: training.meta(cel(...trainingRules, immutable('spec.training'))),
    resources: resources.default({ gpus: 1, nodes: 1, sharedMemory: '8Gi', scratch: '50Gi' }).meta(cel(immutable('spec.resources'))),
    queueName: labelValueName
      .optional()
      .meta({ description: 'Kueue LocalQueue; the Job is created suspended for Kueue to admit.', ...cel(immutable('spec.queueName')) }),
    workloadPriorityClassName: objectName.optional().meta({
      description:
        "Kueue WorkloadPriorityClass (kueue.x-k8s.io/priority-class on the Job): orders the Job in its queue and decides which workloads Kueue may preempt for it. Only with spec.queueName; not the pod's PriorityClass (spec.resources.priorityClassName).",
      ...cel(immutable('spec.workloadPriorityClassName')),
    }),
    suspend: z.boolean().default(false).meta({ description: 'Suspends the trainer (its pods are deleted; it resumes from the last checkpoint).' }),
    backoffLimit: z.number().int().min(0).max(100).default(3).meta({
      description:
        'Trainer pod failures the Job retries (from the newest checkpoint) before it fails. With resources.nodes > 1 a group restart counts every pod that failed: the rank that failed and its peers, which stop with it.',
    }),
    activeDeadlineSeconds: z.number().int().min(1).optional(),
    ttlSecondsAfterFinished: z.number().int().min(0).optional(),
    output: output.meta(cel(immutable('spec.output'))),
    trainer: trainer.optional().meta(cel(immutable('spec.trainer'))),
  })
  .strict()
  .meta(
    cel(
      {
        rule: 'has(self.queueName) == has(oldSelf.queueName)',
        message: 'spec.queueName cannot be added or removed after creation',
        fieldPath: '.queueName',
      },
      {
        rule: 'has(self.workloadPriorityClassName) == has(oldSelf.workloadPriorityClassName)',
        message: 'spec.workloadPriorityClassName cannot be added or removed after creation',
        fieldPath: '.workloadPriorityClassName',
      },
      {
        rule: '!has(self.workloadPriorityClassName) || has(self.queueName)',
        message: 'spec.workloadPriorityClassName needs spec.queueName: only Kueue reads a WorkloadPriorityClass',
        fieldPath: '.workloadPriorityClassName',
      },
    ),
  );
export type FineTuneJobSpec = z.infer<typeof fineTuneJobSpec>;

export const PHASES = ['Pending', 'Queued', 'Running', 'Succeeded', 'Failed', 'Suspended'] as const;
export type Phase = (typeof PHASES)[number];

export const fineTuneJobStatus = z.object({
  phase: z.enum(PHASES).optional(),
  observedGeneration: z.number().int().optional(),
  conditions: conditionList.optional(),
  jobName: z.string().optional(),
  startTime: timestamp.optional(),
  completionTime: timestamp.optional(),
  attempts: z.number().int().min(0).optional(),
  preemptions: z.number().int().min(0).optional().meta({
    description:
      "How many times Kueue preempted the trainer Job (its Workload's schedulingStats); each time the trainer checkpointed and resumed when admitted again.",
  }),
  message: z.string().optional(),
  progress: z
    .object({
      step: z.number().int().optional(),
      totalSteps: z.number().int().optional(),
      percent: z.number().int().min(0).max(100).optional(),
      epoch: z.number().optional(),
      trainLoss: z.number().optional(),
      evalLoss: z.number().optional(),
      learningRate: z.number().optional(),
      tokensPerSecond: z.number().optional(),
      eta: timestamp.optional(),
    })
    .optional(),
  checkpoint: z.object({ step: z.number().int(), uri: z.string() }).optional(),
  parallelism: z
    .object({
      worldSize: z.number().int().min(1).meta({ description: 'Data-parallel ranks: one per GPU, nodes x gpus.' }),
      globalBatchSize: z.number().int().min(1).meta({ description: 'Rows per optimizer step: batchSize x gradientAccumulationSteps x worldSize.' }),
    })
    .optional()
    .meta({ description: 'How the training is spread: the ranks and the effective batch of each optimizer step.' }),
  admission: z
    .object({
      workload: z.string().meta({ description: 'The Kueue Workload that stands for the trainer Job.' }),
      clusterQueue: z.string().meta({ description: 'The ClusterQueue whose quota the Job holds.' }),
      flavors: z.record(z.string(), z.string()).optional().meta({ description: 'ResourceFlavor assigned to each resource, e.g. nvidia.com/gpu: h100.' }),
    })
    .optional()
    .meta({
      description: "Where Kueue admitted the trainer Job (spec.queueName), while it is admitted. The Admitted condition says the rest in Kueue's words.",
    }),
  result: z
    .object({
      adapter: z.string().optional(),
      uri: z.string().optional(),
      digest: sha256Digest.optional(),
      metrics: z.record(z.string(), z.number()).optional(),
    })
    .optional(),
});
export type FineTuneJobStatus = z.infer<typeof fineTuneJobStatus>;

/** The data-parallel shape of a spec: one rank per GPU of every pod, and the rows each optimizer step sees. */
export function parallelismOf(spec: FineTuneJobSpec): NonNullable<FineTuneJobStatus['parallelism']> {
  const worldSize = spec.resources.nodes * spec.resources.gpus;
  return { worldSize, globalBatchSize: spec.training.batchSize * spec.training.gradientAccumulationSteps * worldSize };
}

export const fineTuneJob = z.object({
  apiVersion: z.string(),
  kind: z.literal('FineTuneJob'),
  metadata: objectMeta,
  spec: fineTuneJobSpec,
  status: fineTuneJobStatus.optional(),
});
export type FineTuneJob = z.infer<typeof fineTuneJob>;

/** kubectl get ftj columns. */
export const fineTuneJobPrinterColumns = [
  { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
  { name: 'Progress', type: 'integer', jsonPath: '.status.progress.percent', description: 'Percent of training steps done' },
  { name: 'Step', type: 'integer', jsonPath: '.status.progress.step', priority: 1 },
  { name: 'Loss', type: 'number', jsonPath: '.status.progress.trainLoss' },
  { name: 'Eval-Loss', type: 'number', jsonPath: '.status.progress.evalLoss', priority: 1 },
  { name: 'GPUs', type: 'integer', jsonPath: '.spec.resources.gpus', priority: 1 },
  { name: 'Nodes', type: 'integer', jsonPath: '.spec.resources.nodes', priority: 1 },
  { name: 'Adapter', type: 'string', jsonPath: '.spec.output.adapterName' },
  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
] as const;
