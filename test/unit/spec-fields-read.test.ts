// No FineTuneJob spec field is silently ignored (issue 11). The test lists every leaf field of the spec's
// zod schema (through objects, optionals, defaults, arrays, records and unions), builds specs that set
// every one of them, and runs the real consumers on them with the spec wrapped in a Proxy that records
// each property read: the operator's Job renderer, and the trainer's whole run (data preparation,
// plan, model load, training loop, checkpoints, adapter upload) on the bundled tiny model, its config
// taken from the rendered Job as the trainer pod takes it. A leaf nobody read fails the test.
//
// What counts as read: a property get by a consumer, at any depth (array elements included). A value
// the renderer puts into the Job as is (affinity, tolerations, env entries) is handed to Kubernetes,
// which reads all of it: every leaf under it counts. Serialising the spec whole (the renderer's
// JSON.stringify into the trainer config) reads nothing: that only carries the spec to the trainer,
// whose own reads are recorded. Checking for presence (`'x' in o`) is not a read. A field that only the
// adapter's model card reads (it writes the spec down) has no effect on the run: it counts as unread.
//
// The consumers run once, before the tests (a few seconds); SPEC_FIELDS_REPORT=1 prints who read each leaf.
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ApiException, type CustomObjectsApi, type V1Job } from '@kubernetes/client-node';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { fineTuneJobSpec, type FineTuneJob } from '@loraplane/api/finetunejob';
import { TRAINER_CONFIG_ENV, trainerConfig, type TrainerConfig } from '@loraplane/api/trainer-contract';
import { publishAdapter } from '@loraplane/operator/finetunejob/publish-adapter';
import { renderTrainerJob } from '@loraplane/operator/finetunejob/render-job';
import { configFromEnv } from '@loraplane/trainer/job-config';
import { runFineTune, type RunResult } from '@loraplane/trainer/run';

const REPO = join(import.meta.dirname, '../..');
const THIS_FILE = fileURLToPath(import.meta.url);

// ---------------------------------------------------------------------------------------------------
// Paths. A path is a list of segments: a property name, ANY_INDEX for an array element, ANY_KEY for a
// record's value. Read paths are concrete (a record's real keys); leaf paths are patterns.

const ANY_INDEX = '[]';
const ANY_KEY = '*';
type Path = readonly string[];

const show = (path: Path): string => path.map((s, i) => (s === ANY_INDEX ? '[]' : i === 0 ? s : `.${s}`)).join('');
/** Does concrete path `p` match `pattern`, on all of the pattern's length (`prefix`) or exactly? */
function matches(pattern: Path, p: Path, prefix = false): boolean {
  if (prefix ? p.length > pattern.length : p.length !== pattern.length) return false;
  return p.every((s, i) => pattern[i] === s || (pattern[i] === ANY_KEY && s !== ANY_INDEX));
}

// ---------------------------------------------------------------------------------------------------
// The schema walk (zod 4 introspection).

interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  element?: z.ZodType;
  valueType?: z.ZodType;
  options?: z.ZodType[];
  entries?: Record<string, string | number>;
  in?: z.ZodType;
  left?: z.ZodType;
  right?: z.ZodType;
  getter?: () => z.ZodType;
  checks?: Array<{ _zod: { def: { check: string; value?: number } } }>;
}
const defOf = (s: z.ZodType): Def => s._zod.def as unknown as Def;
const WRAPPERS = new Set(['optional', 'nullable', 'default', 'prefault', 'readonly', 'catch', 'nonoptional']);

interface Leaf {
  path: Path;
  /** What the field promises: the description of its schema (or of a wrapper of it), if any. */
  description?: string;
}

/** Every leaf field under `schema`: a value that is not an object, array or record. */
function leafPaths(schema: z.ZodType, path: Path = [], description?: string, seen = new Set<z.ZodType>()): Leaf[] {
  const def = defOf(schema);
  const described = schema.description ?? description;
  if (WRAPPERS.has(def.type)) return leafPaths(def.innerType!, path, described, seen);
  switch (def.type) {
    case 'object':
      return Object.entries(def.shape!).flatMap(([key, child]) => leafPaths(child, [...path, key], undefined, seen));
    case 'array':
      return leafPaths(def.element!, [...path, ANY_INDEX], described, seen);
    case 'record':
      return leafPaths(def.valueType!, [...path, ANY_KEY], described, seen);
    case 'union': {
      // Each option's leaves at the same place, once.
      const all = def.options!.flatMap((o) => leafPaths(o, path, described, seen));
      return all.filter((l, i) => all.findIndex((m) => show(m.path) === show(l.path)) === i);
    }
    case 'intersection':
      return [...leafPaths(def.left!, path, described, seen), ...leafPaths(def.right!, path, described, seen)];
    case 'pipe':
      return leafPaths(def.in!, path, described, seen);
    case 'lazy': {
      if (seen.has(schema)) throw new Error(`${show(path)}: a recursive schema has no finite list of leaves`);
      return leafPaths(def.getter!(), path, described, new Set([...seen, schema]));
    }
    default:
      return [{ path, ...(described !== undefined ? { description: described } : {}) }];
  }
}

/** A value with every field set, for the schemas of generated core/v1 types (no patterns to satisfy). */
function sampleOf(schema: z.ZodType): unknown {
  const def = defOf(schema);
  if (WRAPPERS.has(def.type)) return sampleOf(def.innerType!);
  switch (def.type) {
    case 'object':
      return Object.fromEntries(Object.entries(def.shape!).map(([k, v]) => [k, sampleOf(v)]));
    case 'array':
      return [sampleOf(def.element!)];
    case 'record':
      return { 'example.com/key': sampleOf(def.valueType!) };
    case 'enum':
      return Object.values(def.entries!)[0];
    case 'string':
      return 'sample';
    case 'boolean':
      return true;
    case 'number': {
      const min = def.checks?.map((c) => c._zod.def).find((c) => c.check === 'greater_than')?.value;
      return Math.max(1, min ?? 1);
    }
    default:
      throw new Error(`no sample for a ${def.type} schema`);
  }
}

/** The paths of every value in a plain value that is not an object or array (array elements as ANY_INDEX). */
function valuePaths(value: unknown, path: Path = []): Path[] {
  if (Array.isArray(value)) return value.flatMap((v) => valuePaths(v, [...path, ANY_INDEX]));
  if (value !== null && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => valuePaths(v, [...path, k]));
  return [path];
}

// ---------------------------------------------------------------------------------------------------
// The recorder: a Proxy over the parsed spec that records every property read and who made it.

/**
 * Who read: the innermost frame of the stack in a repository file (a dependency such as zod reads for
 * the repository code that called it); undefined when that file is this test (its own look at a Job).
 */
function reader(trap: (...args: never[]) => unknown): string | undefined {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 60;
  const holder: { stack?: string } = {};
  Error.captureStackTrace(holder, trap); // the stack from the property access down
  Error.stackTraceLimit = limit;
  for (const line of (holder.stack ?? '').split('\n').slice(1)) {
    const m = /\(?((?:file:\/\/)?\/[^():]+):\d+:\d+\)?$/.exec(line.trim());
    if (!m) continue;
    const file = m[1]!.startsWith('file://') ? fileURLToPath(m[1]!) : m[1]!;
    if (!file.startsWith(REPO + sep) || file.includes(`${sep}node_modules${sep}`)) continue;
    return file === THIS_FILE ? undefined : relative(REPO, file);
  }
  return 'unknown';
}

/**
 * Files that only write the spec down (the adapter's model card): what they read is listed, but a
 * field that only they read has no effect on the run, so it does not count as read.
 */
const WRITES_DOWN_ONLY = new Set(['trainer/src/model-card.ts']);

class Recorder {
  /** Concrete read path (JSON of its segments) → who read it. */
  readonly reads = new Map<string, Set<string>>();
  /** Concrete paths of values the renderer put into the Job as they are: Kubernetes reads all of each. */
  readonly handedOver = new Map<string, Set<string>>();
  private readonly proxies = new WeakMap<object, object>();
  private readonly pathOf = new WeakMap<object, Path>();

  private note(into: Map<string, Set<string>>, path: Path, who: string): void {
    const key = JSON.stringify(path);
    if (!into.has(key)) into.set(key, new Set());
    into.get(key)!.add(who);
  }

  wrap<T extends object>(target: T, path: Path = []): T {
    const cached = this.proxies.get(target);
    if (cached) return cached as T;
    const get = (t: T, key: string | symbol, receiver: unknown): unknown => {
      // Serialising the spec carries it on; whoever parses the JSON is the one who reads it.
      if (key === 'toJSON' && !Object.hasOwn(t, 'toJSON')) return () => t;
      const value: unknown = Reflect.get(t, key, receiver);
      if (typeof key !== 'string' || !Object.hasOwn(t, key)) return value;
      const child = [...path, Array.isArray(t) && /^\d+$/.test(key) ? ANY_INDEX : key];
      const who = reader(get);
      if (who !== undefined) this.note(this.reads, child, who);
      return value !== null && typeof value === 'object' ? this.wrap(value, child) : value;
    };
    const proxy = new Proxy(target, { get });
    this.proxies.set(target, proxy);
    this.pathOf.set(proxy, path);
    return proxy;
  }

  /** Finds the spec's own values (proxies) in a consumer's output: handed over whole to `who`. */
  handOver(output: unknown, who: string, seen = new Set<object>()): void {
    if (output === null || typeof output !== 'object' || seen.has(output)) return;
    seen.add(output);
    const path = this.pathOf.get(output);
    if (path) {
      this.note(this.handedOver, path, who);
      return;
    }
    for (const v of Object.values(output)) this.handOver(v, who, seen);
  }

  /** Who read `leaf`: by a read of it, or by taking a value that holds it. */
  readersOf(leaf: Path): string[] {
    const who = new Set<string>();
    for (const [key, readers] of this.reads) if (matches(leaf, JSON.parse(key) as Path)) for (const r of readers) who.add(r);
    for (const [key, readers] of this.handedOver) if (matches(leaf, JSON.parse(key) as Path, true)) for (const r of readers) who.add(r);
    return [...who].sort();
  }
}

// ---------------------------------------------------------------------------------------------------
// The specs: every field set, in two variants for the fields only one of which may be set (a source is
// s3 or pvc; a run is epochs or maxSteps). Values are small enough for a run of a few seconds.

const s3 = (bucket: string, prefix: string, secret: string) => ({
  bucket,
  prefix,
  endpoint: 'http://s3.storage.svc:9000',
  region: 'eu-west-1',
  forcePathStyle: true,
  credentialsSecret: { name: secret },
});

const baseSpec = () => ({
  baseModel: { name: 'loraplane/tiny-llama', source: {} as object },
  dataset: { source: {} as object, format: 'messages', validationSplit: 0.2, seed: 7, skipInvalidRows: true },
  method: 'qlora',
  quantization: { type: 'nf4', doubleQuant: true, blockSize: 64, computeDtype: 'float32' },
  lora: { r: 4, alpha: 8, dropout: 0.1, targetModules: ['q_proj', 'v_proj'], useRslora: true },
  training: {
    batchSize: 2,
    gradientAccumulationSteps: 2,
    learningRate: 0.001,
    lrScheduler: 'linear',
    warmupRatio: 0.25,
    weightDecay: 0.01,
    maxGradNorm: 0.5,
    maxSeqLength: 128,
    packing: true,
    loss: 'assistant',
    evalSteps: 2,
    saveSteps: 2,
    saveTotalLimit: 1,
    loadBestModelAtEnd: true,
    seed: 3,
  } as Record<string, unknown>,
  resources: {
    gpus: 2,
    nodes: 2,
    gpuProduct: 'NVIDIA-H100-80GB-HBM3',
    cpu: '4',
    memory: '16Gi',
    sharedMemory: '2Gi',
    scratch: '20Gi',
    nodeSelector: { 'example.com/pool': 'training' },
    tolerations: [{ key: 'example.com/dedicated', operator: 'Equal', value: 'training', effect: 'NoExecute', tolerationSeconds: 60 }],
    affinity: sampleOf(fineTuneJobSpec.shape.resources.unwrap().shape.affinity),
    priorityClassName: 'training-high',
  },
  queueName: 'team-a',
  workloadPriorityClassName: 'urgent',
  suspend: false,
  backoffLimit: 2,
  activeDeadlineSeconds: 3600,
  ttlSecondsAfterFinished: 600,
  output: {
    adapterName: 'support-v1',
    storage: { s3: s3('adapters', 'support/v1', 'output-creds') },
    labels: { team: 'a' },
    formats: ['peft', 'gguf', 'merged'],
  },
  trainer: { image: 'registry.example/loraplane-trainer:test', serviceAccountName: 'trainer', env: [{ name: 'EXTRA', value: 'yes' }] },
});

interface Scenario {
  name: string;
  spec: ReturnType<typeof baseSpec>;
}

const SCENARIOS: Scenario[] = [
  (() => {
    const spec = baseSpec();
    spec.baseModel.source = { s3: s3('models', 'tiny-llama', 'model-creds') };
    spec.dataset.source = { s3: s3('datasets', 'support/train.jsonl', 'data-creds') };
    spec.training.maxSteps = 3;
    return { name: 's3 sources, maxSteps', spec };
  })(),
  (() => {
    const spec = baseSpec();
    spec.baseModel.source = { pvc: { claimName: 'models', path: 'tiny-llama' } };
    spec.dataset.source = { pvc: { claimName: 'data', path: 'support/train.jsonl' } };
    spec.training.epochs = 1;
    return { name: 'pvc sources, epochs', spec };
  })(),
];

// ---------------------------------------------------------------------------------------------------
// Storage for the trainer: S3 in memory (the SDK's send, served from a map), PVCs as local folders.

interface StoredObject {
  body: Buffer;
  etag: string;
  metadata: Record<string, string>;
  lastModified: Date;
}

/** Just enough S3 for the storage layer: listing, HEAD, (ranged, If-Match) GET, PUT and DELETE. */
class MemoryS3 {
  readonly objects = new Map<string, StoredObject>();

  put(bucket: string, key: string, body: Buffer): void {
    this.objects.set(`${bucket}/${key}`, { body, etag: `"${createHash('md5').update(body).digest('hex')}"`, metadata: {}, lastModified: new Date() });
  }

  async send(command: { input: object }): Promise<unknown> {
    const input = command.input as {
      Bucket: string;
      Key?: string;
      Prefix?: string;
      Range?: string;
      IfMatch?: string;
      Body?: unknown;
      Metadata?: Record<string, string>;
    };
    const notFound = (name: string) => Object.assign(new Error(`${name} (memory S3)`), { name, $metadata: { httpStatusCode: 404 } });
    const id = `${input.Bucket}/${input.Key ?? ''}`;
    if (command instanceof ListObjectsV2Command) {
      const start = `${input.Bucket}/${input.Prefix ?? ''}`;
      const Contents = [...this.objects]
        .filter(([k]) => k.startsWith(start))
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([k, o]) => ({ Key: k.slice(input.Bucket.length + 1), Size: o.body.length, ETag: o.etag, LastModified: o.lastModified }));
      return { Contents, IsTruncated: false };
    }
    if (command instanceof HeadObjectCommand) {
      const o = this.objects.get(id);
      if (!o) throw notFound('NotFound');
      return { ContentLength: o.body.length, ETag: o.etag, Metadata: o.metadata, LastModified: o.lastModified };
    }
    if (command instanceof GetObjectCommand) {
      const o = this.objects.get(id);
      if (!o) throw notFound('NoSuchKey');
      if (input.IfMatch !== undefined && input.IfMatch !== o.etag)
        throw Object.assign(new Error('PreconditionFailed'), { name: 'PreconditionFailed', $metadata: { httpStatusCode: 412 } });
      const m = /^bytes=(\d+)-(\d+)$/.exec(input.Range ?? '');
      const [from, to] = m ? [Number(m[1]), Math.min(Number(m[2]), o.body.length - 1)] : [0, o.body.length - 1];
      const bytes = o.body.subarray(from, to + 1);
      const Body = Object.assign(Readable.from([bytes]), { transformToByteArray: async () => new Uint8Array(bytes) });
      return {
        Body,
        ContentLength: bytes.length,
        ETag: o.etag,
        Metadata: o.metadata,
        LastModified: o.lastModified,
        ...(m ? { ContentRange: `bytes ${from}-${to}/${o.body.length}` } : {}),
      };
    }
    if (command instanceof PutObjectCommand) {
      const chunks: Buffer[] = [];
      const b = input.Body;
      if (b instanceof Readable) for await (const c of b) chunks.push(Buffer.from(c as Buffer));
      else chunks.push(Buffer.from(b as Uint8Array));
      this.put(input.Bucket, input.Key!, Buffer.concat(chunks));
      this.objects.get(id)!.metadata = input.Metadata ?? {};
      return { ETag: this.objects.get(id)!.etag };
    }
    if (command instanceof DeleteObjectCommand) {
      this.objects.delete(id);
      return {};
    }
    throw new Error(`the memory S3 does not do ${command.constructor.name}`);
  }
}

const tmp = mkdtempSync(join(tmpdir(), 'lp-spec-fields-'));
const DATA_DIR = join(tmp, 'data');
const TINY_MODEL = join(REPO, 'examples/tiny-llama');

/** 16 conversations of the example dataset and one malformed row (so that skipInvalidRows has a row to skip). */
function writeDataset(): void {
  const rows = readFileSync(join(REPO, 'examples/data/customer-support.jsonl'), 'utf8').split('\n').filter(Boolean).slice(0, 16);
  rows.splice(2, 0, '{"messages": "not a conversation"}');
  const body = Buffer.from(`${rows.join('\n')}\n`);
  mkdirSync(join(DATA_DIR, 'support'), { recursive: true });
  writeFileSync(join(DATA_DIR, 'support/train.jsonl'), body);
}

// ---------------------------------------------------------------------------------------------------
// The consumers, run on a scenario's spec.

const log = pino({ level: 'silent' });
const identity = { namespace: 'team-a', name: 'support', uid: '6f1c1f9e-7f43-4b7a-9d4e-0d5d2b1c9a11' };

interface Consumed {
  job: V1Job;
  config: TrainerConfig;
  result: RunResult;
  /** The S3 the run saw: the base model and dataset to start with, then what the trainer wrote. */
  s3: MemoryS3;
}

/** The S3 the next run sees (the SDK's send is served from it). */
let storage = new MemoryS3();

/**
 * Parses the spec with `schema`, renders the trainer Job from it, and runs the trainer on the config the
 * Job carries (parsed by `parseConfig`, as the trainer pod parses it), each on a recording Proxy.
 */
async function consume(
  scenario: Scenario,
  recorder: Recorder,
  o: { schema: z.ZodType; extra?: (spec: Record<string, unknown>) => void; parseConfig: (raw: string) => TrainerConfig; dir: string },
): Promise<Consumed> {
  // A fresh bucket set each run: no run resumes from another's checkpoints.
  storage = new MemoryS3();
  storage.put('datasets', 'support/train.jsonl', readFileSync(join(DATA_DIR, 'support/train.jsonl')));
  for (const f of readdirSync(TINY_MODEL)) storage.put('models', `tiny-llama/${f}`, readFileSync(join(TINY_MODEL, f)));

  const input = structuredClone(scenario.spec) as unknown as Record<string, unknown>;
  o.extra?.(input);
  const spec = o.schema.parse(input) as FineTuneJob['spec'];
  const ftj = { apiVersion: 'loraplane.io/v1alpha1', kind: 'FineTuneJob' as const, metadata: { ...identity }, spec: recorder.wrap(spec) };
  const job = renderTrainerJob(ftj, { image: 'loraplane-trainer:default', serviceAccountName: 'loraplane-trainer', imagePullPolicy: 'IfNotPresent' });
  recorder.handOver(job, 'kubernetes, from the Job that operator/src/finetunejob/render-job.ts renders');

  const container = job.spec!.template.spec!.containers[0]!;
  const raw = container.env!.find((e) => e.name === TRAINER_CONFIG_ENV)!.value!;
  const parsed = o.parseConfig(raw);
  // The credentials the pod gets from the user's Secrets.
  for (const e of container.env!) if (e.valueFrom?.secretKeyRef) vi.stubEnv(e.name, `${e.valueFrom.secretKeyRef.key.toLowerCase()}-value`);
  const config = { ...parsed, spec: recorder.wrap(parsed.spec) };
  const result = await runFineTune({
    config,
    workDir: join(o.dir, 'work'),
    log,
    resolve: { pvcRoot: (claim) => (claim === 'models' ? join(REPO, 'examples') : DATA_DIR) },
  });
  // The operator publishes the trainer's result as a LoraAdapter (a create, as for a new adapter).
  if ('adapterUri' in result) {
    const { adapterUri, digest, metrics } = result;
    const created: unknown[] = [];
    const api = {
      getNamespacedCustomObject: async () => {
        throw new ApiException(404, 'not found', {}, {});
      },
      createNamespacedCustomObject: async ({ body }: { body: unknown }) => void created.push(body),
      patchNamespacedCustomObjectStatus: async () => ({}),
    } as unknown as CustomObjectsApi;
    await publishAdapter(api, ftj, { adapterUri, digest, metrics });
    recorder.handOver(created, 'kubernetes, from the LoraAdapter that operator/src/finetunejob/publish-adapter.ts creates');
  }
  return { job, config: parsed, result, s3: storage };
}

// ---------------------------------------------------------------------------------------------------

const LEAVES = leafPaths(fineTuneJobSpec);
const recorder = new Recorder();
const results: Consumed[] = [];
let seconds = 0;

/** The schema with fields nothing reads: at the top, in an object, deep in a source. */
const SYNTHETIC = [['unreadKnob'], ['training', 'unreadKnob'], ['dataset', 'source', 's3', 'unreadKnob']];
const syntheticSchema = (() => {
  const shape = fineTuneJobSpec.shape;
  const dataset = shape.dataset;
  const source = dataset.shape.source;
  const s3Location = source.shape.s3.unwrap();
  return fineTuneJobSpec.extend({
    unreadKnob: z.number().optional().meta({ description: 'A synthetic field that nothing reads.' }),
    training: shape.training.extend({ unreadKnob: z.string().optional() }),
    dataset: dataset.extend({ source: source.extend({ s3: s3Location.extend({ unreadKnob: z.boolean().optional() }).optional() }) }),
  });
})();
const selfCheck = new Recorder();
let selfCheckRun: Consumed | undefined;

beforeAll(async () => {
  writeDataset();
  vi.spyOn(S3Client.prototype, 'send').mockImplementation(((command: { input: object }) => storage.send(command)) as unknown as S3Client['send']);

  const started = Date.now();
  for (const [i, scenario] of SCENARIOS.entries()) {
    const run = consume(scenario, recorder, {
      schema: fineTuneJobSpec,
      parseConfig: (raw) => configFromEnv({ [TRAINER_CONFIG_ENV]: raw }),
      dir: join(tmp, `run-${i}`),
    });
    results.push(await run.catch((err: Error) => Promise.reject(new Error(`${scenario.name}: ${err.message}`, { cause: err }))));
  }
  // The same pipeline, on a spec whose schema has grown fields that no consumer knows.
  const withSynthetic = trainerConfig.extend({ spec: syntheticSchema });
  selfCheckRun = await consume(SCENARIOS[0]!, selfCheck, {
    schema: syntheticSchema,
    extra: (spec) => {
      spec.unreadKnob = 1;
      (spec.training as Record<string, unknown>).unreadKnob = 'x';
      (spec.dataset as { source: { s3: Record<string, unknown> } }).source.s3.unreadKnob = true;
    },
    parseConfig: (raw) => withSynthetic.parse(JSON.parse(raw)) as TrainerConfig,
    dir: join(tmp, 'self-check'),
  });
  seconds = (Date.now() - started) / 1000;
}, 120_000);

afterAll(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
  rmSync(tmp, { recursive: true, force: true });
});

const unread = (leaves: Leaf[], r: Recorder) => leaves.filter((l) => r.readersOf(l.path).every((who) => WRITES_DOWN_ONLY.has(who)));
const describeLeaf = (l: Leaf, r: Recorder) => {
  const readers = r.readersOf(l.path);
  return `${show(l.path)}${l.description ? ` (${l.description})` : ''}${readers.length ? `: only written down, by ${readers.join(', ')}` : ''}`;
};

describe('FineTuneJob spec fields', () => {
  it('lists the leaves through objects, optionals, defaults, arrays, records and unions', () => {
    const shown = LEAVES.map((l) => show(l.path));
    expect(shown).toEqual(
      expect.arrayContaining([
        'baseModel.source.s3.credentialsSecret.name',
        'dataset.source.pvc.path',
        'lora.targetModules[]',
        'resources.nodeSelector.*',
        'resources.tolerations[].tolerationSeconds',
        'resources.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[].podAffinityTerm.labelSelector.matchLabels.*',
        'output.labels.*',
        'trainer.env[].value',
        'training.epochs',
      ]),
    );
    expect(new Set(shown).size).toBe(shown.length);
    const union = z.object({ u: z.union([z.object({ a: z.string() }), z.object({ a: z.string(), b: z.array(z.number()) })]).optional() });
    expect(leafPaths(union).map((l) => show(l.path))).toEqual(['u.a', 'u.b[]']);
  });

  it('the specs set every leaf', () => {
    const set = SCENARIOS.flatMap((s) => valuePaths(s.spec));
    expect(
      LEAVES.filter((l) => !set.some((p) => matches(l.path, p))).map((l) => show(l.path)),
      'leaves no scenario sets: add them to the specs above',
    ).toEqual([]);
  });

  it('the consumers ran through: a Job, and a fresh run trained, checkpointed and uploaded its adapter', () => {
    for (const r of [...results, selfCheckRun!]) {
      expect(r.job.kind).toBe('Job');
      if (r.result.interrupted) throw new Error('the run was interrupted');
      expect(r.result.loop.resumedFrom).toBeUndefined();
      expect(r.result.adapterUri).toBe('s3://adapters/support/v1/');
      expect(r.result.loop.step).toBeGreaterThanOrEqual(3);
      expect(r.result.loop.history.some((h) => h.evalLoss !== undefined)).toBe(true);
      const stored = [...r.s3.objects.keys()];
      expect(stored).toEqual(expect.arrayContaining(['adapters/support/v1/adapter_model.safetensors', 'adapters/support/v1/manifest.json']));
      expect(stored.some((k) => /^adapters\/support\/v1\/checkpoints\/checkpoint-\d+\/manifest\.json$/.test(k))).toBe(true);
    }
  });

  it('every leaf of the spec is read by a consumer', () => {
    const summary = LEAVES.map((l) => `${show(l.path)}: ${recorder.readersOf(l.path).join(', ') || 'NOBODY'}`);
    if (process.env.SPEC_FIELDS_REPORT) console.log(`${summary.join('\n')}\n(${LEAVES.length} leaves; consumers ran in ${seconds.toFixed(1)} s)`);
    const missing = unread(LEAVES, recorder);
    const lines = missing.map((l) => describeLeaf(l, recorder));
    expect(lines, `spec fields that no consumer reads:\n${lines.join('\n')}`).toEqual([]);
  });

  it('self-check: fields added to a copy of the schema, set and carried to the trainer, are reported as unread', () => {
    const leaves = leafPaths(syntheticSchema);
    const synthetic = unread(leaves, selfCheck).filter((l) => SYNTHETIC.some((p) => show(p) === show(l.path)));
    expect(synthetic.map((l) => show(l.path)).sort()).toEqual(SYNTHETIC.map(show).sort());
    // They travelled with the rest: the Job's trainer config held them, and the trainer ran on it.
    const spec = selfCheckRun!.config.spec as unknown as {
      unreadKnob?: number;
      training: { unreadKnob?: string };
      dataset: { source: { s3?: { unreadKnob?: boolean } } };
    };
    expect([spec.unreadKnob, spec.training.unreadKnob, spec.dataset.source.s3?.unreadKnob]).toEqual([1, 'x', true]);
    expect(selfCheckRun!.result.interrupted).toBe(false);
  });
});
