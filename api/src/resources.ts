// The custom resources loraplane serves, as the CRD generator and the clients see them.
import type { CrdSource } from './crd.js';
import { fineTuneJobPrinterColumns, fineTuneJobSpec, fineTuneJobStatus } from './finetunejob.js';
import { loraAdapterPrinterColumns, loraAdapterSpec, loraAdapterStatus } from './loraadapter.js';

export const FINETUNEJOB: CrdSource = {
  kind: 'FineTuneJob',
  plural: 'finetunejobs',
  shortNames: ['ftj'],
  spec: fineTuneJobSpec,
  status: fineTuneJobStatus,
  printerColumns: fineTuneJobPrinterColumns,
  // The trainer Job's name, and the label values that point back here, must fit in 63 characters.
  rootRules: [{ rule: 'self.metadata.name.size() <= 63', message: 'metadata.name must be at most 63 characters' }],
  description: 'FineTuneJob fine-tunes a base model with QLoRA or LoRA on GPU nodes and produces a LoraAdapter.',
};

export const LORAADAPTER: CrdSource = {
  kind: 'LoraAdapter',
  plural: 'loraadapters',
  shortNames: ['lora'],
  spec: loraAdapterSpec,
  status: loraAdapterStatus,
  printerColumns: loraAdapterPrinterColumns,
  description: 'LoraAdapter is a verified LoRA adapter artifact in object storage, with provenance and a reclaim policy.',
};

export const CRD_SOURCES = [FINETUNEJOB, LORAADAPTER];
