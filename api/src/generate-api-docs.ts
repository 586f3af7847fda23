// Writes docs/api-reference.md from the zod schemas (npm run generate:docs).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderApiReference } from './api-reference.js';

const file = join(dirname(fileURLToPath(import.meta.url)), '../../docs/api-reference.md');
mkdirSync(dirname(file), { recursive: true });
writeFileSync(file, renderApiReference());
console.log(`wrote ${file}`);
