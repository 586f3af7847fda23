// One native QLoRA configuration, timed like bench/peer/torch_qlora_step.py (same model, batch, sequence,
// LoRA settings and thread count), in its own process so its peak RSS is its own. Prints one JSON line.
// usage: tsx bench/native-step-worker.ts MODEL_DIR BATCH SEQ STEPS [fp32|bf16]
import { QLoraModel } from '@loraplane/native/runtime';

const [dir, batchArg, seqArg, stepsArg, precisionArg = 'fp32'] = process.argv.slice(2);
const [batch, seq, steps] = [Number(batchArg), Number(seqArg), Number(stepsArg)];
if (precisionArg !== 'fp32' && precisionArg !== 'bf16') throw new Error(`Expected fp32 or bf16 for the precision but received "${precisionArg}"`);
const model = await QLoraModel.load(dir!, { lora: { r: 16, alpha: 32, dropout: 0 }, precision: precisionArg });
model.configureTraining({ learningRate: 1e-4, lrScheduler: 'constant', totalSteps: steps + 1 });
let seed = 1;
const rand = () => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return seed;
};
const ids = Array.from({ length: batch }, () => Array.from({ length: seq }, () => rand() % model.info.vocabSize));
const micro = [{ inputIds: ids, labels: ids }];
await model.step(micro); // warm-up, as the peer does
const t0 = performance.now();
for (let i = 0; i < steps; i++) await model.step(micro);
const elapsed = (performance.now() - t0) / 1000;
const peak = Number(/VmHWM:\s+(\d+)/.exec(await import('node:fs').then((fs) => fs.readFileSync('/proc/self/status', 'utf8')))![1]) / 1024;
console.log(
  JSON.stringify({ tokens_per_second: (batch * seq * steps) / elapsed, peak_rss_mib: peak, seconds_per_step: elapsed / steps, device: model.info.device }),
);
model.free();
