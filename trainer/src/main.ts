// `loraplane <command>`: run (a local fine-tune) or trainer (the pod entry, as loraplane-trainer).
import { localRun, trainerPod } from './cli.js';

const [command, ...rest] = process.argv.slice(2);
const exit = (code: number) => process.exit(code);
if (command === 'run') localRun(rest).then(exit, (err: Error) => (console.error(err.message), exit(1)));
else if (command === 'trainer') void trainerPod().then(exit);
else {
  console.error('usage: loraplane run finetune.yaml [--output DIR] [--prompt TEXT]   (or: loraplane trainer, in a pod)');
  exit(2);
}
