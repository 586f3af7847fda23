// Progress on a terminal: one redrawn line with a bar, loss and ETA. In a pod, the JSON logs carry it.
import type { StepRecord } from './loop.js';

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(s % 60).padStart(2, '0')}s`;
}

export function progressLine(r: StepRecord, totalSteps: number, etaSeconds: number, width = 24): string {
  const done = Math.round((r.step / totalSteps) * width);
  const bar = `${'█'.repeat(done)}${'░'.repeat(width - done)}`;
  const evalPart = r.evalLoss !== undefined ? ` eval ${r.evalLoss.toFixed(4)}` : '';
  return `${bar} ${r.step}/${totalSteps} loss ${r.loss.toFixed(4)}${evalPart} lr ${r.learningRate.toExponential(2)} ${Math.round(r.tokens / Math.max(r.seconds, 1e-6))} tok/s ETA ${formatDuration(etaSeconds)}`;
}
