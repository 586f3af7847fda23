// Writes crds/<plural>.loraplane.io.yaml from the zod schemas (npm run generate:crds).
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderCrdFiles } from './crd-files.js';

const crdDir = join(dirname(fileURLToPath(import.meta.url)), '../../../crds');
mkdirSync(crdDir, { recursive: true });
for (const [file, text] of renderCrdFiles()) writeFileSync(join(crdDir, file), text);
console.log(`wrote ${crdDir}`);
