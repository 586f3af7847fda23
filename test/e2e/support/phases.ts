// Records every status.phase a FineTuneJob goes through, from a watch (polling would miss short phases).
import { Watch, type KubeConfig } from '@kubernetes/client-node';

export interface PhaseRecorder {
  phases: string[];
  stop(): void;
}

export async function recordPhases(kc: KubeConfig, namespace: string, name: string): Promise<PhaseRecorder> {
  const phases: string[] = [];
  const controller = await new Watch(kc).watch(
    `/apis/loraplane.io/v1alpha1/namespaces/${namespace}/finetunejobs`,
    { fieldSelector: `metadata.name=${name}` },
    (_type: string, obj: { status?: { phase?: string } }) => {
      const phase = obj.status?.phase;
      if (phase && phases.at(-1) !== phase) phases.push(phase);
    },
    () => {},
  );
  return { phases, stop: () => controller.abort() };
}
