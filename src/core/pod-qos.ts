import type { Container, Pod } from './pod.js';
import { isPositive, parseQuantity, sameQuantity } from './quantity.js';

/** The resources Kubernetes' QoS classes are decided by. */
const QOS_RESOURCES = ['cpu', 'memory'] as const;

/**
 * Whether the pod's QoS class is Guaranteed by Kubernetes' rule: every container and init
 * container has a cpu and a memory limit above zero and requests exactly that much (a
 * request not written defaults to its limit, as the API server defaults it).
 */
export function isGuaranteed(pod: Pod): boolean {
  return (pod.spec.initContainers ?? []).every(guaranteedContainer) && pod.spec.containers.every(guaranteedContainer);
}

function guaranteedContainer(container: Container): boolean {
  const requests = container.resources?.requests;
  const limits = container.resources?.limits;
  return QOS_RESOURCES.every((name) => {
    const limit = parseQuantity(limits?.[name]);
    if (limit === undefined || !isPositive(limit)) return false;
    // Not written, or written as the limit is: the same amount, without reading it again.
    if (requests === undefined || !Object.hasOwn(requests, name) || requests[name] === limits?.[name]) return true;
    const request = parseQuantity(requests[name]);
    return request !== undefined && sameQuantity(request, limit);
  });
}
