import type { Container, ContainerSlot, Pod } from './pod.js';
import { containerSlots } from './pod.js';
import type { Provider } from './provider.js';
import { isProvider } from './provider.js';
import type { ObjectFacts } from './object-facts.js';
import { mayStartReference, referenceProvider } from './secret-reference.js';
import type { EnvSource } from './env-sources.js';
import { envSources, objectKey } from './env-sources.js';
import { expandedVariables, fixedStart } from './kubelet-expansion.js';
import type { ExpandedText } from './expanded-text.js';
import { UNKNOWN_TEXT, expandText, literalText, textReference } from './expanded-text.js';
import { isWrapped } from './wrapping.js';
import { ANNOTATION_INJECT, ANNOTATION_PROVIDER, ANNOTATION_WRAP_EXEC, booleanAnnotation, optsOut } from './annotations.js';
import type { InjectionSettings } from './settings.js';
import type { RuntimeOptions } from './runtime-options.js';
import { podRuntimeOptions } from './runtime-options.js';
import { runsOnWindows } from './platform.js';

/** A variable whose value secrets-init will resolve, and where that value comes from. */
export interface SecretReference {
  variable: string;
  provider: Provider;
  /** The cloud reference when the pod spec holds it; `Secret name[key]` when it comes from an object (never its value). */
  origin: string;
}

export interface ContainerAnalysis {
  slot: ContainerSlot;
  /** Already carries secrets-init from an earlier injection. */
  wrapped: boolean;
  references: SecretReference[];
  /** The provider secrets-init will run with; set when the container must be wrapped. */
  provider?: Provider;
}

export interface PodAnalysis {
  optedOut: boolean;
  containers: ContainerAnalysis[];
  /** secrets-init's options for this pod: the server's, overridden by the pod's annotations. */
  options: RuntimeOptions;
  /** Wrap exec probes and lifecycle hooks too (annotation secrets-init/wrap-exec). */
  wrapExec: boolean;
  denials: string[];
  warnings: string[];
}

export interface AnalysisContext {
  /** Namespace of the pod; referenced objects live there. */
  namespace: string;
  objects: ReadonlyMap<string, ObjectFacts>;
  settings: InjectionSettings;
}

const PROVIDER_LABEL: Record<Provider, string> = { aws: 'AWS', google: 'Google' };

export function analyzePod(pod: Pod, context: AnalysisContext): PodAnalysis {
  const analysis: PodAnalysis = { optedOut: false, containers: [], options: context.settings.runtime, wrapExec: false, denials: [], warnings: [] };
  const annotations = pod.metadata?.annotations ?? {};
  if (optsOut(annotations)) {
    analysis.optedOut = true;
    return analysis;
  }
  const annotated = annotations[ANNOTATION_PROVIDER];
  const requested = annotated !== undefined && isProvider(annotated) ? annotated : undefined;
  const budget: VariableBudget = { left: context.settings.limits.variablesPerPod, prefixedChars: MAX_PREFIXED_CHARS, exceeded: false };
  for (const slot of containerSlots(pod)) {
    const container = analyzeContainer(slot, context, analysis, budget, annotations);
    if (container.references.length > 0 && !container.wrapped) {
      const provider = chooseProvider(container, requested, analysis);
      if (provider !== undefined) container.provider = provider;
    }
    analysis.containers.push(container);
  }
  // The pod's own settings matter only where something is injected: elsewhere a typo is a warning.
  const problems: string[] = [];
  if (annotated !== undefined && requested === undefined) problems.push(`annotation ${ANNOTATION_PROVIDER} must be "aws" or "google", not "${annotated}"`);
  const runtime = podRuntimeOptions(annotations, context.settings.runtime, context.settings.image);
  analysis.options = runtime.options;
  problems.push(...runtime.problems);
  const wrapExec = booleanAnnotation(annotations, ANNOTATION_WRAP_EXEC);
  if (typeof wrapExec === 'object') problems.push(wrapExec.problem);
  else analysis.wrapExec = wrapExec === true;

  if (analysis.containers.some((c) => c.references.length > 0 && !c.wrapped)) {
    analysis.denials.push(...problems);
    if (runsOnWindows(pod)) {
      analysis.denials.push(
        'the pod runs on Windows, and secrets-init runs on Linux only: resolve its secrets another way ' +
          '(for example the Secrets Store CSI driver, or a Kubernetes Secret synchronised from the cloud), ' +
          `or set the annotation ${ANNOTATION_INJECT}: "false" to start it with the references as they are`,
      );
    }
  } else {
    for (const problem of problems) analysis.warnings.push(`${problem}; ignored: no container holds a reference`);
  }
  return analysis;
}

/**
 * The container's effective environment, as the kubelet builds it (envFrom, then env;
 * a later definition of a name replaces an earlier one), reduced to which variables
 * end up holding a reference. A value holds one when the kubelet's expansion of its
 * `$(NAME)`s, from the variables defined before it, makes it a reference
 * (`arn:$(PARTITION):secretsmanager:…`), or when it expands a variable holding a
 * reference: wrapping once too often is harmless, once too few starts the app with a
 * raw reference. Values from Secrets, ConfigMaps and field references are not known
 * (only whether an object's value is a reference is kept): text they would put into an
 * expansion is taken to make no reference.
 */
function analyzeContainer(
  slot: ContainerSlot,
  context: AnalysisContext,
  analysis: PodAnalysis,
  budget: VariableBudget,
  annotations: Readonly<Record<string, string>>,
): ContainerAnalysis {
  const name = slot.container.name;
  const result: ContainerAnalysis = { slot, wrapped: isWrapped(slot.container, context.settings), references: [] };
  if (result.wrapped || budget.exceeded) return result;
  const environment = new Map<string, SecretReference | undefined>();
  // The values, as the kubelet expands them, of the variables that some value expands (none
  // in most containers): all that expanding a later value needs.
  const expanded = namesExpanded(slot.container);
  const texts = new Map<string, ExpandedText>();
  const keep = (variable: string, text: ExpandedText): void => {
    if (expanded?.has(variable) === true) texts.set(variable, text);
  };
  for (const source of envSources(slot.container)) {
    budget.left -= variablesDefined(source, context.objects);
    if (budget.left < 0) {
      budget.exceeded = true;
      analysis.denials.push(tooManyVariables(context.settings.limits.variablesPerPod));
      return result;
    }
    if (source.type === 'other') {
      if (source.annotation === undefined) {
        environment.set(source.variable, undefined);
        keep(source.variable, UNKNOWN_TEXT);
        continue;
      }
      // A pod annotation: the kubelet gives its value as it stands (not expanded; "" when absent).
      const value = Object.hasOwn(annotations, source.annotation) ? annotations[source.annotation] ?? '' : '';
      const provider = referenceProvider(value);
      environment.set(source.variable, provider ? { variable: source.variable, provider, origin: value } : undefined);
      keep(source.variable, literalText(value));
      continue;
    }
    if (source.type === 'value') {
      let text: ExpandedText | undefined;
      if (expanded !== undefined && (expanded.has(source.variable) || (source.value.includes('$(') && mayStartReference(fixedStart(source.value))))) {
        text = expandText(source.value, (name) => texts.get(name));
        keep(source.variable, text);
      }
      environment.set(source.variable, valueReference(source.variable, source.value, text, environment));
      continue;
    }
    const described = `${source.object.kind} ${context.namespace}/${source.object.name}`;
    const facts = context.objects.get(objectKey(source.object));
    if (facts === undefined) {
      analysis.denials.push(`${described} referenced by container "${name}" was not looked up`);
      continue;
    }
    if (!facts.exists) {
      if (source.optional) analysis.warnings.push(`optional ${described} does not exist; container "${name}" starts without it`);
      else analysis.denials.push(`${described} referenced by container "${name}" does not exist`);
      continue;
    }
    const origin = (key: string) => `${source.object.kind} ${source.object.name}[${key}]`;
    if (source.type === 'object') {
      budget.prefixedChars -= source.prefix.length * facts.keys.size;
      if (budget.prefixedChars < 0) {
        budget.exceeded = true;
        analysis.denials.push(
          `the envFrom prefixes, each written before every key its object gives, make more than ${MAX_PREFIXED_CHARS / 1024 / 1024} MiB of variable names ` +
            `in all at container "${name}"; shorten the prefixes`,
        );
        return result;
      }
      for (const [key, provider] of facts.keys) {
        const variable = `${source.prefix}${key}`;
        environment.set(variable, provider ? { variable, provider, origin: origin(key) } : undefined);
        keep(variable, UNKNOWN_TEXT);
      }
      continue;
    }
    if (!facts.keys.has(source.key)) {
      if (source.optional) analysis.warnings.push(`optional key "${source.key}" is not in ${described}; container "${name}" starts without ${source.variable}`);
      else analysis.denials.push(`key "${source.key}" is not in ${described} (needed by ${source.variable} of container "${name}")`);
      continue;
    }
    const provider = facts.keys.get(source.key);
    environment.set(source.variable, provider ? { variable: source.variable, provider, origin: origin(source.key) } : undefined);
    keep(source.variable, UNKNOWN_TEXT);
  }
  for (const reference of environment.values()) if (reference) result.references.push(reference);
  return result;
}

/** The denial of a pod that defines more environment variables than it may. */
export function tooManyVariables(limit: number): string {
  return `the pod defines more than ${limit} environment variables (env entries, and the keys its envFrom take from Secrets and ConfigMaps); split it, or raise --max-variables-per-pod`;
}

/**
 * How many more environment variables the pod may define (env entries plus keys expanded by
 * envFrom), and how many more characters envFrom prefixes may add to their names.
 */
interface VariableBudget { left: number; prefixedChars: number; exceeded: boolean }

/**
 * Most characters the envFrom prefixes of one pod may add to the names of the variables they
 * define: a prefix is written before every key of its object, so a long one on an object of
 * thousands of keys (a crafted pod: real prefixes are a few characters) would otherwise make
 * gigabytes of names, past the heap.
 */
export const MAX_PREFIXED_CHARS = 1024 * 1024;

/** The variables one source defines: one, or every key of the object an envFrom names. */
function variablesDefined(source: EnvSource, objects: ReadonlyMap<string, ObjectFacts>): number {
  if (source.type !== 'object') return 1;
  const facts = objects.get(objectKey(source.object));
  return facts?.exists === true ? facts.keys.size : 0;
}

/**
 * The variables whose expanded values deciding the container's references needs: those that
 * values expand when their expansion could be a reference (its fixed start could start
 * one), and, in turn, those that these variables' own values expand. Undefined when there
 * are none (most containers): then no value is expanded at all.
 */
function namesExpanded(container: Container): ReadonlySet<string> | undefined {
  let names: Set<string> | undefined;
  let expandedBy: Map<string, string[]> | undefined;
  for (const variable of container.env ?? []) {
    const value = variable.value;
    if (value === undefined || !value.includes('$(')) continue;
    const expands = expandedVariables(value);
    if (mayStartReference(fixedStart(value))) for (const name of expands) (names ??= new Set()).add(name);
    expandedBy ??= new Map();
    let list = expandedBy.get(variable.name);
    if (list === undefined) expandedBy.set(variable.name, (list = []));
    for (const name of expands) list.push(name);
  }
  if (names === undefined || expandedBy === undefined) return names;
  const pending = [...names];
  for (let name = pending.pop(); name !== undefined; name = pending.pop()) {
    for (const next of expandedBy.get(name) ?? []) {
      if (names.has(next)) continue;
      names.add(next);
      pending.push(next);
    }
  }
  return names;
}

/**
 * The reference a value holds: the value itself (`text`, its expansion, when the
 * container's values expand others), else that of a variable it expands.
 */
function valueReference(
  variable: string,
  value: string,
  text: ExpandedText | undefined,
  environment: ReadonlyMap<string, SecretReference | undefined>,
): SecretReference | undefined {
  const provider = text === undefined ? referenceProvider(value) : textReference(text);
  if (provider) return { variable, provider, origin: value };
  for (const expanded of expandedVariables(value)) {
    const reference = environment.get(expanded);
    if (reference) return { variable, provider: reference.provider, origin: reference.origin };
  }
  return undefined;
}

/**
 * One secrets-init process resolves one provider. The references decide it (each names
 * its own, so the --provider flag never has to); the pod annotation overrides
 * (references of the other provider then stay as they are, with a warning).
 */
function chooseProvider(container: ContainerAnalysis, requested: Provider | undefined, analysis: PodAnalysis): Provider | undefined {
  const name = container.slot.container.name;
  const byProvider = new Map<Provider, string[]>();
  for (const reference of container.references) {
    const variables = byProvider.get(reference.provider);
    if (variables === undefined) byProvider.set(reference.provider, [reference.variable]);
    else variables.push(reference.variable);
  }
  if (requested !== undefined) {
    for (const [provider, variables] of byProvider) {
      if (provider !== requested) {
        analysis.warnings.push(
          `container "${name}": ${PROVIDER_LABEL[provider]} references (${variables.join(', ')}) stay unresolved because ${ANNOTATION_PROVIDER}=${requested}`,
        );
      }
    }
    return requested;
  }
  if (byProvider.size > 1) {
    const listed = [...byProvider].map(([provider, variables]) => `${PROVIDER_LABEL[provider]}: ${variables.join(', ')}`).join('; ');
    analysis.denials.push(
      `container "${name}" mixes AWS and Google secret references (${listed}); one secrets-init process resolves one provider: ` +
        `move them to separate containers, or set the pod annotation ${ANNOTATION_PROVIDER} to the one to resolve`,
    );
    return undefined;
  }
  return byProvider.keys().next().value;
}
