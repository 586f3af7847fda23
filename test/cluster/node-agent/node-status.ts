// Builders for what a kubelet writes about its node: the Node object it registers, the status it
// heartbeats and the Lease it renews (shapes from kwok's node stages and node_lease_controller).
import { createHash } from 'node:crypto';
import { release } from 'node:os';
import type * as k8s from '@kubernetes/client-node';
import type { NodeDef } from './config.js';
import { rfc3339, rfc3339Micro } from './kube.js';

export const NODE_IP = '127.0.0.1';
export const LEASE_NAMESPACE = 'kube-node-lease';
export const LEASE_DURATION_SECONDS = 40;
export const AGENT_LABEL = 'loraplane.io/node-agent';

const arch = process.arch === 'x64' ? 'amd64' : process.arch;

export function nodeObject(def: NodeDef): k8s.V1Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: def.name,
      labels: {
        'kubernetes.io/hostname': def.name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': arch,
        [AGENT_LABEL]: 'true',
        ...def.labels,
      },
    },
    spec: { taints: def.taints.map((t) => ({ ...t })) },
  };
}

/** A stable fake id per node, shaped like /etc/machine-id. */
const nodeId = (name: string, salt: string): string => createHash('sha256').update(`${salt}:${name}`).digest('hex').slice(0, 32);

/** The status patch body: full conditions (merged by type), capacity, addresses, nodeInfo. */
export function nodeStatusPatch(def: NodeDef, kubeletVersion: string, now: Date = new Date()): { status: object } {
  const t = rfc3339(now);
  const condition = (type: string, status: 'True' | 'False', reason: string, message: string) => ({
    type,
    status,
    reason,
    message,
    lastHeartbeatTime: t,
  });
  return {
    status: {
      capacity: def.capacity,
      allocatable: def.allocatable ?? def.capacity,
      conditions: [
        condition('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
        condition('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
        condition('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
        condition('Ready', 'True', 'KubeletReady', 'loraplane test node agent is posting ready status'),
      ],
      addresses: [
        { type: 'InternalIP', address: NODE_IP },
        { type: 'Hostname', address: def.name },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: 0 } },
      nodeInfo: {
        machineID: nodeId(def.name, 'machine'),
        systemUUID: nodeId(def.name, 'system'),
        bootID: nodeId(def.name, `boot-${process.pid}`),
        kernelVersion: release(),
        osImage: 'loraplane test node agent',
        containerRuntimeVersion: 'loraplane-node-agent://0.1.0',
        kubeletVersion,
        kubeProxyVersion: '',
        operatingSystem: 'linux',
        architecture: arch,
      },
    },
  };
}

/**
 * Sets lastTransitionTime on each condition, for the first status after registration only: the
 * conditions never change, and a strategic merge keeps the stored time when a heartbeat omits it.
 */
export function withTransitionTimes(patch: { status: object }, now: Date = new Date()): { status: object } {
  const status = patch.status as { conditions: object[] };
  return {
    status: { ...status, conditions: status.conditions.map((c) => ({ ...c, lastTransitionTime: rfc3339(now) })) },
  };
}

export function leaseObject(nodeName: string, nodeUid: string, now: Date = new Date()): object {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name: nodeName,
      namespace: LEASE_NAMESPACE,
      ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: nodeName, uid: nodeUid }],
    },
    spec: leaseSpec(nodeName, now),
  };
}

export const leaseSpec = (nodeName: string, now: Date = new Date()) => ({
  holderIdentity: nodeName,
  leaseDurationSeconds: LEASE_DURATION_SECONDS,
  renewTime: rfc3339Micro(now),
});
