// `loraplane <command>`: run (a local fine-tune) or trainer (the pod entry, as loraplane-trainer).
// Exit codes as in the trainer contract (TRAINER_EXIT): a failure no retry can fix exits 3.
import { localRun, trainerPod } from './cli.js';
import { exitCodeFor } from './exit-code.js';
import { redactor } from './redact.js';

const [command, ...rest] = process.argv.slice(2);
const exit = (code: number) => process.exit(code);
const fail = (err: unknown) => {
  console.error(redactor()(err instanceof Error ? err.message : String(err)));
  exit(exitCodeFor(err));
};
if (command === 'run') localRun(rest).then(exit, fail);
else if (command === 'trainer') void trainerPod().then(exit);
else {
  console.error('usage: loraplane run finetune.yaml [--output DIR] [--prompt TEXT]   (or: loraplane trainer, in a pod)');
  exit(2);
}
