// README.md for the adapter (a Hugging Face model card): what was trained, on what, how, with what result.
import type { FineTuneJobSpec } from '@loraplane/api/finetunejob';

export interface CardInput {
  adapterName: string;
  spec: FineTuneJobSpec;
  datasetDigest: string;
  trainRows: number;
  validationRows: number;
  steps: number;
  trainLoss?: number;
  evalLoss?: number;
  job: { namespace: string; name: string; uid: string };
}

export function modelCard(c: CardInput): string {
  const { spec } = c;
  const t = spec.training;
  const fmt = (x: number | undefined) => (x === undefined ? 'n/a' : x.toFixed(4));
  // A GGUF base is named with its file: the adapter's tokenizer files were rebuilt from its metadata.
  const source = spec.baseModel.source.pvc?.path ?? spec.baseModel.source.s3?.prefix ?? '';
  const ggufRow = source.toLowerCase().endsWith('.gguf')
    ? `| base weights | \`${source.split('/').at(-1)}\` (llama.cpp GGUF); tokenizer.json and tokenizer_config.json here are rebuilt from its metadata |\n`
    : '';
  return `---
base_model: ${spec.baseModel.name}
library_name: peft
tags: [lora, qlora, loraplane]
---
# ${c.adapterName}

A LoRA adapter for \`${spec.baseModel.name}\`, trained by loraplane (FineTuneJob \`${c.job.namespace}/${c.job.name}\`, uid \`${c.job.uid}\`).

| | |
|---|---|
| method | ${spec.method}${spec.method === 'qlora' ? ` (${spec.quantization.type}, double quant ${spec.quantization.doubleQuant}, block ${spec.quantization.blockSize})` : ''} |
| LoRA | r ${spec.lora.r}, alpha ${spec.lora.alpha}, dropout ${spec.lora.dropout}${spec.lora.useRslora ? ', rsLoRA' : ''}; ${spec.lora.targetModules.join(', ')} |
| data | ${c.trainRows} training rows, ${c.validationRows} validation rows; digest \`${c.datasetDigest}\` |
| training | ${c.steps} steps, batch ${t.batchSize} x ${t.gradientAccumulationSteps} accumulation, lr ${t.learningRate} (${t.lrScheduler}, warmup ${t.warmupRatio}), max length ${t.maxSeqLength}, loss on ${t.loss} tokens, seed ${t.seed} |
| final train loss | ${fmt(c.trainLoss)} |
| final eval loss | ${fmt(c.evalLoss)} |
${ggufRow}
Load it with PEFT:

\`\`\`python
from peft import PeftModel
model = PeftModel.from_pretrained(base_model, "path/to/this/adapter")
\`\`\`
`;
}
