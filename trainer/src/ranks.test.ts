import { describe, expect, it } from 'vitest';
import { trainerConfigOf } from '@loraplane/api/trainer-contract';
import { exampleFineTuneJob } from '../../test/fixtures/finetunejob.js';
import { TrainerConfigError } from './errors.js';
import { podGroupOf } from './ranks.js';

const configWith = (gpus: number, nodes: number) => {
  const ftj = exampleFineTuneJob();
  return trainerConfigOf({ ...ftj.spec, resources: { ...ftj.spec.resources, gpus, nodes } }, { namespace: 'team-a', name: 'x', uid: 'u' });
};

describe('podGroupOf', () => {
  it('keeps a one-pod group on the loopback interface, whatever the pod env says', () => {
    expect(podGroupOf(configWith(4, 1), { JOB_COMPLETION_INDEX: '3' })).toEqual({ nodeIndex: 0, localRanks: 4, worldSize: 4 });
  });

  it("places a pod of a multi-pod group by its Indexed Job index and meets at pod 0's name on the rendezvous port", () => {
    const env = { JOB_COMPLETION_INDEX: '1', LORAPLANE_RENDEZVOUS_ADDR: 'j-0.j.team-a.svc' };
    expect(podGroupOf(configWith(2, 3), env)).toEqual({ nodeIndex: 1, localRanks: 2, worldSize: 6, master: { addr: 'j-0.j.team-a.svc', port: 29500 } });
  });

  it('names what is missing or wrong in a multi-pod pod', () => {
    expect(() => podGroupOf(configWith(2, 2), { LORAPLANE_RENDEZVOUS_ADDR: 'a' })).toThrow(
      /JOB_COMPLETION_INDEX=undefined is not a pod index below spec.resources.nodes=2/,
    );
    expect(() => podGroupOf(configWith(2, 2), { JOB_COMPLETION_INDEX: '2', LORAPLANE_RENDEZVOUS_ADDR: 'a' })).toThrow(/JOB_COMPLETION_INDEX=2/);
    expect(() => podGroupOf(configWith(2, 2), { JOB_COMPLETION_INDEX: '0' })).toThrow(/LORAPLANE_RENDEZVOUS_ADDR is not set/);
    expect(() => podGroupOf(configWith(2, 2), { JOB_COMPLETION_INDEX: '', LORAPLANE_RENDEZVOUS_ADDR: 'a' })).toThrow(TrainerConfigError);
  });
});
