// The pinned reference venv's python (torch, transformers, PEFT, bitsandbytes), for the tests that check
// the runtime against the reference stack.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/** Creates the venv on first use (several GB of wheels; setup-venv.sh), then reuses it. */
export const referencePython = (): string =>
  execFileSync('bash', [join(import.meta.dirname, 'setup-venv.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
