// examples/finetune.yaml against the test S3 server: the buckets and objects it names (the bundled tiny
// model standing in for its 3B base model, the bundled support dataset), and its documents with the
// server's endpoint and keys. Shared by the end-to-end test and `npm run demo:cluster`.
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { uploadDirectory, uploadFile } from '@loraplane/storage/upload';
import { server } from '../../storage/storage.js';
import type { Json } from './resources.js';

const repo = join(import.meta.dirname, '../../..');
const EXAMPLE_ENDPOINT = 'http://minio.storage.svc:9000';

async function ensureBucket(s3: S3Client, bucket: string): Promise<void> {
  try {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (err) {
    if (!/BucketAlready(OwnedByYou|Exists)/.test((err as Error).name)) throw err;
  }
}

/** Uploads what examples/finetune.yaml reads. */
export async function stageExampleSources(s3: S3Client): Promise<void> {
  for (const bucket of ['models', 'datasets', 'adapters']) await ensureBucket(s3, bucket);
  await uploadDirectory(s3, 'models', 'meta-llama/Llama-3.2-3B-Instruct', join(repo, 'examples/tiny-llama'));
  await uploadFile(s3, 'datasets', 'support/train.jsonl', join(repo, 'examples/data/customer-support.jsonl'));
}

/** examples/finetune.yaml (Secret and FineTuneJob) pointed at the test S3 server. */
export function exampleForTestServer(): Json[] {
  const s = server();
  const text = readFileSync(join(repo, 'examples/finetune.yaml'), 'utf8').replaceAll(EXAMPLE_ENDPOINT, s.endpoint);
  const docs = parseAllDocuments(text).map((d) => d.toJS() as Json);
  const secret = docs.find((d) => d.kind === 'Secret') as Json & { stringData: Record<string, string> };
  secret.stringData = { AWS_ACCESS_KEY_ID: s.accessKeyId, AWS_SECRET_ACCESS_KEY: s.secretAccessKey };
  return docs;
}
