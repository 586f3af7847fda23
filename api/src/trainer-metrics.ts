// The trainer's Prometheus metrics, declared once: the trainer exports them, the operator scrapes the
// gauges that make up status.progress, and the dashboard and alerts query them by these names.

const metric = <Type extends 'gauge' | 'counter'>(type: Type, name: string, help: string) => ({ type, name, help });

export const TRAINER_METRICS = {
  loss: metric('gauge', 'loraplane_trainer_loss', 'Training loss of the last optimizer step (mean over its valid tokens).'),
  evalLoss: metric('gauge', 'loraplane_trainer_eval_loss', 'Loss on the validation split at the last evaluation.'),
  learningRate: metric('gauge', 'loraplane_trainer_learning_rate', 'Learning rate of the last optimizer step.'),
  gradNorm: metric('gauge', 'loraplane_trainer_grad_norm', 'Global L2 norm of the LoRA gradients before clipping.'),
  step: metric('gauge', 'loraplane_trainer_step', 'Optimizer steps done.'),
  totalSteps: metric('gauge', 'loraplane_trainer_total_steps', 'Optimizer steps the run will take.'),
  epoch: metric('gauge', 'loraplane_trainer_epoch', 'Epochs done, fractional.'),
  tokensPerSecond: metric('gauge', 'loraplane_trainer_tokens_per_second', 'Training tokens per second over the last step.'),
  etaSeconds: metric('gauge', 'loraplane_trainer_eta_seconds', 'Estimated seconds until training ends.'),
  tokens: metric('counter', 'loraplane_trainer_tokens_total', 'Tokens trained on.'),
  checkpoints: metric('counter', 'loraplane_trainer_checkpoints_total', 'Checkpoints written.'),
} as const;

export type TrainerMetricKey = keyof typeof TRAINER_METRICS;
