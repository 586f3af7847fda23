// Records every status.phase a FineTuneJob goes through, from a watch (polling would miss short phases).
// A watch the API server or a busy machine ends early is started again (it lists the object's current
// state first), so a recorder never goes silent for the rest of a test.
import { Watch, type KubeConfig } from '@kubernetes/client-node';

export interface PhaseRecorder {
  phases: string[];
  stop(): void;
}

export async function recordPhases(kc: KubeConfig, namespace: string, name: string): Promise<PhaseRecorder> {
  const phases: string[] = [];
  let stopped = false;
  let controller: AbortController | undefined;
  const restart = (): void => {
    if (!stopped) setTimeout(() => void start().catch(restart), 200);
  };
  const start = async (): Promise<void> => {
    controller = await new Watch(kc).watch(
      `/apis/loraplane.io/v1alpha1/namespaces/${namespace}/finetunejobs`,
      { fieldSelector: `metadata.name=${name}` },
      (_type: string, obj: { status?: { phase?: string } }) => {
        const phase = obj.status?.phase;
        if (phase && phases.at(-1) !== phase) phases.push(phase);
      },
      restart,
    );
    if (stopped) controller.abort();
  };
  await start();
  return {
    phases,
    stop: () => {
      stopped = true;
      controller?.abort();
    },
  };
}
