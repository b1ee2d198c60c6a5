/**
 * The parts of a Kubernetes Pod that injection reads or writes. Objects keep every
 * other field (index signatures) so a mutated copy loses nothing.
 */
export interface KeySelector { name?: string; key: string; optional?: boolean }
export interface EnvVarSource {
  secretKeyRef?: KeySelector;
  configMapKeyRef?: KeySelector;
  [field: string]: unknown;
}
export interface EnvVar { name: string; value?: string; valueFrom?: EnvVarSource }
export interface ObjectSelector { name?: string; optional?: boolean }
export interface EnvFromSource { prefix?: string; secretRef?: ObjectSelector; configMapRef?: ObjectSelector }
export interface VolumeMount { name: string; mountPath: string; [field: string]: unknown }
/** Quantities by resource name: strings as the API server writes them, numbers where YAML or JSON gave one. */
export type ResourceList = Record<string, string | number | null>;
export interface ResourceRequirements { requests?: ResourceList; limits?: ResourceList; [field: string]: unknown }
export interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  envFrom?: EnvFromSource[];
  volumeMounts?: VolumeMount[];
  resources?: ResourceRequirements;
  [field: string]: unknown;
}
export interface Volume { name: string; emptyDir?: { medium?: string; sizeLimit?: string }; [field: string]: unknown }
export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
  [field: string]: unknown;
}
export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
  [field: string]: unknown;
}
export interface Pod { apiVersion?: string; kind?: string; metadata?: ObjectMeta; spec: PodSpec; [field: string]: unknown }

/** Where a container sits in the pod spec; init containers and containers are separate lists. */
export type ContainerRole = 'initContainers' | 'containers';

export interface ContainerSlot { role: ContainerRole; index: number; container: Container }

/** Every container of the pod, init containers first, with its place in the spec. */
export function containerSlots(pod: Pod): ContainerSlot[] {
  const slots: ContainerSlot[] = [];
  (pod.spec.initContainers ?? []).forEach((container, index) => slots.push({ role: 'initContainers', index, container }));
  pod.spec.containers.forEach((container, index) => slots.push({ role: 'containers', index, container }));
  return slots;
}

/** A readable name for logs and messages: the pod's name, or its generateName prefix. */
export function podDisplayName(pod: Pod): string {
  const meta = pod.metadata ?? {};
  if (meta.name) return meta.name;
  if (meta.generateName) return `${meta.generateName}<generated>`;
  return '<unnamed>';
}
