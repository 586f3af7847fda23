// Kubernetes resource quantities ("512Mi", "1.5G", "250m", "1e3") as numbers, for memory limits
// and resourceFieldRef env values.
const SUFFIX: Record<string, number> = {
  '': 1,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

export function parseQuantity(q: string): number {
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)([a-zA-Z]*)$/.exec(q.trim());
  const scale = m === null ? undefined : SUFFIX[m[2] ?? ''];
  if (m === null || scale === undefined) throw new Error(`invalid quantity ${JSON.stringify(q)}`);
  return Number(m[1]) * scale;
}
