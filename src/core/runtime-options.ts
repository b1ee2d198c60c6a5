import type { Provider } from './provider.js';
import type { RuntimeFeature } from './runtime-release.js';
import { imageSupports, introducedIn } from './runtime-release.js';
import { ANNOTATION_EXIT_EARLY, ANNOTATION_GOOGLE_PROJECT, ANNOTATION_LOG_FORMAT, booleanAnnotation } from './annotations.js';

export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** Options of the secrets-init runtime that the webhook passes before the command (reference-behaviour.md §1). */
export interface RuntimeOptions {
  /** `--exit-early`: stop instead of starting the app when a secret cannot be read. */
  exitEarly: boolean;
  /** `--google-project=ID`: the project of Google secrets named without one; passed to google containers only. */
  googleProject?: string;
  /** `--log-format=text|json`. */
  logFormat?: LogFormat;
}

export const NO_RUNTIME_OPTIONS: RuntimeOptions = { exitEarly: false };

export function isLogFormat(value: string): value is LogFormat {
  return (LOG_FORMATS as readonly string[]).includes(value);
}

/**
 * A Google Cloud project as Secret Manager names it: a project ID (6 to 30 lowercase
 * letters, digits and hyphens, starting with a letter, not ending with a hyphen), a
 * domain-scoped one (`example.com:my-project`), or a project number.
 */
const GOOGLE_PROJECT = /^(?:(?:[a-z0-9-]+\.)+[a-z]{2,}:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$|^[0-9]{1,20}$/;

export function googleProjectProblem(value: string): string | undefined {
  return GOOGLE_PROJECT.test(value)
    ? undefined
    : 'must be a Google Cloud project ID (6 to 30 lowercase letters, digits or "-", starting with a letter), optionally domain-scoped, or a project number';
}

/** The option each setting turns on, by the runtime's own flag name. */
function enabledFeatures(options: RuntimeOptions): RuntimeFeature[] {
  const features: RuntimeFeature[] = [];
  if (options.exitEarly) features.push('exit-early');
  if (options.googleProject !== undefined) features.push('google-project');
  if (options.logFormat !== undefined) features.push('log-format');
  return features;
}

/** Why `image` cannot run with `feature`, e.g. for a startup error or a denial. */
export function unsupportedMessage(feature: RuntimeFeature, image: string): string {
  return `secrets-init --${feature} needs release ${introducedIn(feature)} or later, and the injected image ${image} is older`;
}

/** The runtime options that the secrets-init image `image` does not have; empty when it runs them all. */
export function unsupportedOptions(image: string, options: RuntimeOptions): RuntimeFeature[] {
  return enabledFeatures(options).filter((feature) => !imageSupports(image, feature));
}

/**
 * The options for one pod: the server's, each overridden by its pod annotation. Every
 * malformed annotation, and every option turned on by an annotation that `image` does
 * not have, is a problem naming that annotation.
 */
export function podRuntimeOptions(
  annotations: Readonly<Record<string, string>>,
  defaults: RuntimeOptions,
  image: string,
): { options: RuntimeOptions; problems: string[] } {
  const options: RuntimeOptions = { ...defaults };
  const problems: string[] = [];
  /** Options the annotations turn on, with the annotation that did. */
  const requested: Array<[RuntimeFeature, string]> = [];

  const exitEarly = booleanAnnotation(annotations, ANNOTATION_EXIT_EARLY);
  if (typeof exitEarly === 'object') problems.push(exitEarly.problem);
  else if (exitEarly !== undefined) {
    options.exitEarly = exitEarly;
    if (exitEarly) requested.push(['exit-early', ANNOTATION_EXIT_EARLY]);
  }

  const project = annotations[ANNOTATION_GOOGLE_PROJECT];
  if (project !== undefined) {
    const problem = googleProjectProblem(project);
    if (problem !== undefined) problems.push(`annotation ${ANNOTATION_GOOGLE_PROJECT} ${problem}, not ${JSON.stringify(project)}`);
    else {
      options.googleProject = project;
      requested.push(['google-project', ANNOTATION_GOOGLE_PROJECT]);
    }
  }

  const format = annotations[ANNOTATION_LOG_FORMAT];
  if (format !== undefined) {
    if (!isLogFormat(format)) problems.push(`annotation ${ANNOTATION_LOG_FORMAT} must be "text" or "json", not ${JSON.stringify(format)}`);
    else {
      options.logFormat = format;
      requested.push(['log-format', ANNOTATION_LOG_FORMAT]);
    }
  }

  for (const [feature, annotation] of requested) {
    if (!imageSupports(image, feature)) problems.push(`annotation ${annotation}: ${unsupportedMessage(feature, image)}`);
  }
  return { options, problems };
}

/**
 * What secrets-init is given before the command, in this order: `--provider=<p>`, then
 * `--exit-early`, `--google-project=<id>` (google only), `--log-format=<f>`,
 * `--interactive`, each where it applies. No option set: `--provider=<p>` alone, as the
 * reference passes it.
 */
export function runtimeArgs(provider: Provider, options: RuntimeOptions, interactive: boolean): string[] {
  const args = [`--provider=${provider}`];
  if (options.exitEarly) args.push('--exit-early');
  if (options.googleProject !== undefined && provider === 'google') args.push(`--google-project=${options.googleProject}`);
  if (options.logFormat !== undefined) args.push(`--log-format=${options.logFormat}`);
  if (interactive) args.push('--interactive');
  return args;
}
