import type { InitContainerSettings } from './init-container.js';
import type { RuntimeOptions } from './runtime-options.js';
import type { SupervisorCommand } from './supervisor.js';

/** How the webhook injects, as the server flags configure it. */
export interface InjectionSettings extends InitContainerSettings {
  /** secrets-init options for every pod (--exit-early, --google-project, --secrets-init-log-format); pod annotations override them. */
  runtime: RuntimeOptions;
  /** Command prefixes that start the real command as a child (Argo's executor): secrets-init goes after them. */
  supervisors: readonly SupervisorCommand[];
  /** Bounds on the work one pod may cause; a pod above one is denied with the reason. */
  limits: PodLimits;
}

export interface PodLimits {
  /** Distinct Secrets and ConfigMaps read for one pod (--max-objects-per-pod). */
  objectsPerPod: number;
  /** Environment variables across the pod's containers: env entries plus keys expanded by envFrom (--max-variables-per-pod). */
  variablesPerPod: number;
}

export const DEFAULT_POD_LIMITS: PodLimits = { objectsPerPod: 100, variablesPerPod: 10_000 };
