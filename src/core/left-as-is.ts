import { ANNOTATION_PREFIX } from './annotations.js';
import type { Container, Pod } from './pod.js';
import { fixedStart } from './kubelet-expansion.js';
import { mayStartReference, referenceProvider } from './secret-reference.js';
import type { InjectionSettings } from './settings.js';
import { wrapperPath } from './wrapping.js';
import { annotationField } from './env-sources.js';

/**
 * Whether the webhook certainly leaves the pod as it is, with no warning and no denial:
 * no annotation of ours, no Secret or ConfigMap read, no env value that is a cloud
 * reference or that the kubelet's `$(NAME)` expansion could make one, no container that
 * already runs secrets-init, and no more env entries than the pod may define. Most pods in a cluster are such pods, and this test decides them
 * without planning them. When it says no, the plan decides (which may well leave the pod
 * as it is too).
 */
export function leftAsIs(pod: Pod, settings: Pick<InjectionSettings, 'volumePath' | 'limits'>): boolean {
  const annotations = pod.metadata?.annotations;
  if (annotations !== undefined) {
    for (const key in annotations) if (key.startsWith(ANNOTATION_PREFIX)) return false;
  }
  const wrapper = wrapperPath(settings.volumePath);
  const init = plainContainers(pod.spec.initContainers ?? [], wrapper, annotations);
  const regular = plainContainers(pod.spec.containers, wrapper, annotations);
  return init >= 0 && regular >= 0 && init + regular <= settings.limits.variablesPerPod;
}

/** How many env entries the containers define; -1 when one of them is not plain. */
function plainContainers(containers: readonly Container[], wrapper: string, annotations: Readonly<Record<string, string>> | undefined): number {
  let variables = 0;
  for (const container of containers) {
    if (!plainContainer(container, wrapper, annotations)) return -1;
    variables += container.env?.length ?? 0;
  }
  return variables;
}

function plainContainer(container: Container, wrapper: string, annotations: Readonly<Record<string, string>> | undefined): boolean {
  if ((container.envFrom ?? []).length > 0) return false;
  if (container.command?.includes(wrapper) === true || container.args?.includes(wrapper) === true) return false;
  for (const variable of container.env ?? []) {
    const from = variable.valueFrom;
    if (from !== undefined && (from.secretKeyRef !== undefined || from.configMapKeyRef !== undefined)) return false;
    // A field reference to a pod annotation: its value, which the kubelet gives as it stands.
    if (from !== undefined && annotations !== undefined && annotationHoldsReference(annotations, annotationField(from['fieldRef']))) return false;
    if (variable.value !== undefined && (referenceProvider(variable.value) !== undefined || mayExpandToReference(variable.value))) return false;
  }
  return true;
}

function annotationHoldsReference(annotations: Readonly<Record<string, string>>, key: string | undefined): boolean {
  return key !== undefined && Object.hasOwn(annotations, key) && referenceProvider(annotations[key] ?? '') !== undefined;
}

/**
 * Whether the kubelet's expansion of the value's `$(NAME)`s could make it a reference,
 * whatever the variables hold: the text every expansion starts with can still start one.
 */
function mayExpandToReference(value: string): boolean {
  return value.includes('$(') && mayStartReference(fixedStart(value));
}
