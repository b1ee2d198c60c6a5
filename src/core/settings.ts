import type { InitContainerSettings } from './init-container.js';
import type { RuntimeOptions } from './runtime-options.js';
import type { SupervisorCommand } from './supervisor.js';

/** How the webhook injects, as the server flags configure it. */
export interface InjectionSettings extends InitContainerSettings {
  /** secrets-init options for every pod (--exit-early, --google-project, --secrets-init-log-format); pod annotations override them. */
  runtime: RuntimeOptions;
  /** Command prefixes that start the real command as a child (Argo's executor): secrets-init goes after them. */
  supervisors: readonly SupervisorCommand[];
}
