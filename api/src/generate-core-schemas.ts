// Writes core-v1-affinity.generated.ts (npm run generate:core-schemas): the core/v1 Affinity schema
// from the OpenAPI v3 spec of the pinned k8s.io/kubernetes module, fetched into the Go module cache.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openApiSpecPath, pinnedK8sVersion, renderAffinityModule } from './core-v1-openapi.js';

const version = pinnedK8sVersion();
const spec = JSON.parse(readFileSync(openApiSpecPath(version)!, 'utf8')) as unknown;
const file = join(import.meta.dirname, 'core-v1-affinity.generated.ts');
writeFileSync(file, renderAffinityModule(spec, version));
console.log(`wrote ${file}`);
