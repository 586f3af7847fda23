// Writes crds/<plural>.loraplane.io.yaml from the zod schemas (npm run generate:crds), and the same
// files into the Helm chart, which installs them from its own crds/.
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderCrdFiles } from './crd-files.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../..');
for (const crdDir of [join(repo, 'crds'), join(repo, 'charts/loraplane/crds')]) {
  mkdirSync(crdDir, { recursive: true });
  for (const [file, text] of renderCrdFiles()) writeFileSync(join(crdDir, file), text);
  console.log(`wrote ${crdDir}`);
}
