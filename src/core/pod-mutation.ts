import type { Container, ContainerRole, Pod, Volume, VolumeMount } from './pod.js';
import type { Provider } from './provider.js';
import type { ObjectFacts } from './object-facts.js';
import type { ImageConfig } from './original-command.js';
import { imageWordsWeight, needsImageConfig, originalCommand } from './original-command.js';
import type { CommandOverride } from './command-override.js';
import { COMMAND_ANNOTATION_PREFIX, commandOverride } from './command-override.js';
import { INIT_CONTAINER_NAME, buildInitContainer, buildVolume, podUser } from './init-container.js';
import { isGuaranteed } from './pod-qos.js';
import type { ContainerAnalysis, PodAnalysis } from './analysis.js';
import { analyzePod } from './analysis.js';
import { ANNOTATION_STATUS, ANNOTATION_WRAP_EXEC } from './annotations.js';
import type { InjectionSettings } from './settings.js';
import { runtimeArgs } from './runtime-options.js';
import { imageSupports, introducedIn } from './runtime-release.js';
import { subcommandClash, wrapCommandLine, wrapperPath } from './wrapping.js';
import type { ExecHandler } from './exec-handlers.js';
import { execCommands, referredVariables } from './exec-handlers.js';
import { expandedVariables } from './kubelet-expansion.js';

/** Everything the mutation depends on that needs I/O to learn, already learned. */
export interface ResolvedFacts {
  namespace: string;
  /** Facts of referenced Secrets/ConfigMaps, keyed by `Kind/name` (see objectKey). */
  objects: ReadonlyMap<string, ObjectFacts>;
  /** Image configs of containers that have no `command`, keyed by container name. */
  imageConfigs: ReadonlyMap<string, ImageConfig>;
}

export interface ContainerWrap {
  role: ContainerRole;
  index: number;
  name: string;
  provider: Provider;
  command: string[];
  args: string[];
  /** Exec probes and lifecycle hooks that run under secrets-init too, with their new command. */
  handlers: Array<{ handler: ExecHandler; command: string[] }>;
}

export interface ContainerMount { role: ContainerRole; index: number; name: string; mount: VolumeMount }

/** The changes injection makes to one pod; `toJsonPatch` turns it into a patch. */
export interface PodMutation {
  /** Prepend our init container (absent), or move the existing one to the front (it stands after a wrapped init container). */
  initContainer?: { add: Container } | { moveFrom: number };
  volume?: Volume;
  wraps: ContainerWrap[];
  mounts: ContainerMount[];
  /** New value of the status annotation. */
  status?: string;
  /** For the audit log: injected container → where its references come from (names, never values). */
  audit: Record<string, string[]>;
}

export type MutationOutcome =
  | { allowed: true; mutation?: PodMutation; warnings: string[] }
  | { allowed: false; reason: string; warnings: string[] };

/** A container that must be wrapped but has no `command`: its image's ENTRYPOINT/CMD must be read. */
export interface ImageConfigNeed { container: string; image: string }

/**
 * One pod analysed once, with the objects it reads already learned: what to look up
 * next (image configs) and then what to change both come from it.
 */
export interface PodPlan {
  pod: Pod;
  settings: InjectionSettings;
  analysis: PodAnalysis;
  /** What in the pod clashes with the injection (mounts, our names): denied before any lookup. */
  conflicts: string[];
  /** The command annotation of each container to wrap that has no `command`, parsed once. */
  overrides: ReadonlyMap<string, CommandOverride>;
}

export function planPod(pod: Pod, facts: Pick<ResolvedFacts, 'namespace' | 'objects'>, settings: InjectionSettings): PodPlan {
  const analysis = analyzePod(pod, { namespace: facts.namespace, objects: facts.objects, settings });
  const overrides = new Map<string, CommandOverride>();
  for (const { slot } of analysis.containers.filter(toWrap)) {
    // Once per name: containers of one name (a pod the API server has not yet validated) share the annotation.
    const name = slot.container.name;
    if (needsImageConfig(slot.container) && !overrides.has(name)) overrides.set(name, commandOverride(pod, name));
  }
  return { pod, settings, analysis, conflicts: analysis.optedOut ? [] : conflictsOf(pod, analysis, settings), overrides };
}

function toWrap(analysis: ContainerAnalysis): boolean {
  return analysis.provider !== undefined && !analysis.wrapped;
}

/** Which image configs the mutation will need; empty when the pod is denied anyway. */
export function imageConfigsNeeded(plan: PodPlan): ImageConfigNeed[] {
  const { analysis } = plan;
  if (analysis.optedOut || analysis.denials.length > 0 || plan.conflicts.length > 0) return [];
  return analysis.containers
    .filter((c) => toWrap(c) && plan.overrides.has(c.slot.container.name) && plan.overrides.get(c.slot.container.name) === undefined)
    .map((c) => ({ container: c.slot.container.name, image: c.slot.container.image ?? '' }));
}

/**
 * What in the pod itself stands in the injection's way, whatever the images say: a
 * container that mounts something else where our volume goes, a volume or container
 * that takes our names.
 */
function conflictsOf(pod: Pod, analysis: PodAnalysis, settings: InjectionSettings): string[] {
  const injected = analysis.containers.filter((c) => c.wrapped || toWrap(c));
  if (injected.length === 0) return [];
  const conflicts: string[] = [];
  for (const { slot } of injected) {
    const mount = mountProblem(slot.container, settings);
    if (mount !== 'missing' && mount !== 'present') conflicts.push(mount);
  }
  const ours = (pod.spec.initContainers ?? []).findIndex((c) => c.name === INIT_CONTAINER_NAME);
  const clash = reservedNameClash(pod, ours, settings);
  if (clash !== undefined) conflicts.push(clash);
  const volume = (pod.spec.volumes ?? []).find((v) => v.name === settings.volumeName);
  if (volume !== undefined && volume.emptyDir === undefined) {
    conflicts.push(`the pod already has a volume "${settings.volumeName}" that is not an emptyDir; secrets-init needs that name for its own volume`);
  }
  return conflicts;
}

/**
 * The mutation of a pod from the pod and the facts learned for it. No I/O: the
 * webhook and offline tools share it. Applying its result and mutating again yields
 * no mutation.
 */
export function computePodMutation(pod: Pod, facts: ResolvedFacts, settings: InjectionSettings): MutationOutcome {
  return mutationOf(planPod(pod, facts, settings), facts.imageConfigs);
}

/** The mutation a plan leads to, given the image configs of the containers `imageConfigsNeeded` named. */
export function mutationOf(plan: PodPlan, imageConfigs: ReadonlyMap<string, ImageConfig>): MutationOutcome {
  const { pod, settings, analysis } = plan;
  if (analysis.optedOut) return { allowed: true, warnings: [] };
  const denials = [...analysis.denials, ...plan.conflicts];
  const wraps: ContainerWrap[] = [];
  const mounts: ContainerMount[] = [];
  const audit: Record<string, string[]> = {};
  const warnings = [...analysis.warnings];
  const copies: CopyBudget = { left: MAX_COPIED_IMAGE_CHARS };
  let patchLeft = MAX_PATCH_CHARS;
  for (const container of analysis.containers) {
    const { slot } = container;
    const name = slot.container.name;
    if (toWrap(container) && container.provider !== undefined) {
      // Past the bound the pod is denied (once): the containers after it are not wrapped.
      if (copies.left < 0) continue;
      const wrap = wrapContainer(container, container.provider, plan.overrides.get(name), imageConfigs, analysis, settings, warnings, copies);
      if ('denial' in wrap) {
        denials.push(wrap.denial);
        continue;
      }
      wraps.push(wrap);
      audit[name] = [...new Set(container.references.map((r) => r.origin))];
      patchLeft -= wrapPatchWeight(wrap);
    }
    if ((toWrap(container) || container.wrapped) && mountProblem(slot.container, settings) === 'missing') {
      mounts.push({ role: slot.role, index: slot.index, name, mount: { name: settings.volumeName, mountPath: settings.volumePath } });
      patchLeft -= PATCH_OP_WEIGHT;
    }
    if (patchLeft < 0) {
      denials.push(
        `the patch would take more than ${MAX_PATCH_CHARS / 1024 / 1024} MiB at container "${name}" (wrapping writes the command line of each container into its args` +
          `${analysis.wrapExec ? `, and that of each probe and hook under ${ANNOTATION_WRAP_EXEC}` : ''}), more than the API server stores of a pod; split the pod`,
      );
      break;
    }
  }
  if (denials.length > 0) return { allowed: false, reason: denials.join('; '), warnings };

  const injected = analysis.containers.filter((c) => c.wrapped || toWrap(c));
  if (injected.length === 0) return { allowed: true, warnings };

  const mutation: PodMutation = { wraps, mounts, audit };
  const ours = (pod.spec.initContainers ?? []).findIndex((c) => c.name === INIT_CONTAINER_NAME);
  if (ours < 0) {
    mutation.initContainer = { add: buildInitContainer(settings, isGuaranteed(pod) ? 'guaranteed' : 'default', podUser(pod)) };
  } else {
    const firstWrappedInit = injected.find((c) => c.slot.role === 'initContainers');
    if (firstWrappedInit !== undefined && firstWrappedInit.slot.index < ours) mutation.initContainer = { moveFrom: ours };
  }
  if (!(pod.spec.volumes ?? []).some((v) => v.name === settings.volumeName)) mutation.volume = buildVolume(settings.volumeName);
  const status = statusAnnotation(injected);
  if (pod.metadata?.annotations?.[ANNOTATION_STATUS] !== status) mutation.status = status;
  const changed = mutation.initContainer !== undefined || mutation.volume !== undefined || wraps.length > 0 || mounts.length > 0 || mutation.status !== undefined;
  return changed ? { allowed: true, mutation, warnings } : { allowed: true, warnings };
}

/**
 * Most of the image commands (ENTRYPOINT and CMD, or command annotations) that one pod's
 * wrapping may copy into container args, weighed by imageWordsWeight. Each container without
 * `command` gets its own copy, so one image or annotation shared by thousands of containers
 * (a crafted pod: real ones hold a few hundred characters a container) would otherwise make
 * a patch of gigabytes, past the heap; the API server stores no pod of more than 1.5 MiB.
 */
export const MAX_COPIED_IMAGE_CHARS = 1024 * 1024;

interface CopyBudget { left: number }

/**
 * Most a pod's patch may weigh (wrapPatchWeight, about its JSON text): the API server stores
 * no pod of more than 1.5 MiB. A patch takes a few hundred characters for each wrapped
 * container, so a crafted pod of thousands of small containers, with probes and hooks under
 * wrap-exec, made one about six times its own size (a 2 MiB request, a 13 MB answer in a
 * quarter of a second). Past the bound the pod is denied, and the containers after it are not
 * wrapped. (Image commands copied into args have a bound of their own, MAX_COPIED_IMAGE_CHARS,
 * checked before they are copied.)
 */
export const MAX_PATCH_CHARS = 2 * 1024 * 1024;
/** What an operation of the patch weighs besides its words: its text and path. */
const PATCH_OP_WEIGHT = 96;
/** What a word weighs besides its characters: its quotes and comma. */
const PATCH_WORD_WEIGHT = 4;

/** What the patch operations of one wrapped container weigh: its command, args and exec handlers. */
function wrapPatchWeight(wrap: ContainerWrap): number {
  let weight = PATCH_OP_WEIGHT * (2 + wrap.handlers.length) + wordsWeight(wrap.command) + wordsWeight(wrap.args);
  for (const { command } of wrap.handlers) weight += wordsWeight(command);
  return weight;
}

function wordsWeight(words: readonly string[]): number {
  let weight = 0;
  for (const word of words) weight += word.length + PATCH_WORD_WEIGHT;
  return weight;
}

/**
 * How one container is wrapped: the command it ran (from itself, the command annotation
 * or its image), secrets-init with the pod's options in front of it (after a supervisor,
 * if it starts with one), and its exec handlers when the pod asks for that.
 */
function wrapContainer(
  container: ContainerAnalysis,
  provider: Provider,
  override: CommandOverride,
  imageConfigs: ReadonlyMap<string, ImageConfig>,
  analysis: PodAnalysis,
  settings: InjectionSettings,
  warnings: string[],
  copies: CopyBudget,
): ContainerWrap | { denial: string } {
  const { slot } = container;
  const name = slot.container.name;
  if (override !== undefined && 'problem' in override) return { denial: override.problem };
  const image = override?.config ?? imageConfigs.get(name);
  if (image !== undefined) {
    copies.left -= imageWordsWeight(slot.container, image, copies.left);
    if (copies.left < 0) {
      return {
        denial: `the images' ENTRYPOINT and CMD (or the ${COMMAND_ANNOTATION_PREFIX}<container> annotations), which each container without "command" ` +
          `gets a copy of in its args, pass ${MAX_COPIED_IMAGE_CHARS / 1024 / 1024} MiB in all at container "${name}"; set "command" on the containers`,
      };
    }
  }
  const original = originalCommand(slot.container, image);
  if (original === undefined) {
    return { denial: `container "${name}" has no command and the ENTRYPOINT/CMD of image "${slot.container.image ?? ''}" is unknown; set "command" on the container` };
  }
  if (original.length === 0) {
    return { denial: `container "${name}" has no command and image "${slot.container.image ?? ''}" has neither ENTRYPOINT nor CMD; set "command" on the container` };
  }
  const wrapped = wrapCommandLine(original, runtimeArgs(provider, analysis.options, interactive(slot.container, settings, warnings)), settings);
  if ('problem' in wrapped) return { denial: `container "${name}" ${wrapped.problem}` };
  warnings.push(...argumentWarnings(container));
  warnings.push(...(analysis.wrapExec ? probeExpansionWarnings(container) : handlerWarnings(container)));
  const handlers = analysis.wrapExec ? wrapHandlers(slot.container, provider, analysis, settings) : [];
  if ('denial' in handlers) return handlers;
  return { role: slot.role, index: slot.index, name, provider, ...wrapped, handlers };
}

/**
 * `--interactive` for a container that keeps stdin open on a terminal (`stdin: true` and
 * `tty: true`): without it the app gets no stdin. secrets-init makes its child the
 * terminal's foreground process with it, which fails when stdin is not a terminal, so a
 * container with `stdin: true` but no `tty` goes without it, with a warning, as it does
 * when the injected image predates the option.
 */
function interactive(container: Container, settings: InjectionSettings, warnings: string[]): boolean {
  if (container['stdin'] !== true) return false;
  if (container['tty'] !== true) {
    warnings.push(
      `container "${container.name}" has stdin: true without tty: true: secrets-init hands stdin to the app only when it is a terminal ` +
        '(its --interactive fails on any other stdin), so the app starts without stdin; set tty: true if it reads stdin',
    );
    return false;
  }
  if (imageSupports(settings.image, 'interactive')) return true;
  warnings.push(
    `container "${container.name}" has stdin: true, but the injected secrets-init (${settings.image}) predates --interactive ` +
      `(${introducedIn('interactive')}): the app starts without stdin`,
  );
  return false;
}

/**
 * Exec probes and hooks run under secrets-init too (annotation wrap-exec), except those
 * that already do; denied when one starts with a word secrets-init takes for its own subcommand.
 */
function wrapHandlers(
  container: Container,
  provider: Provider,
  analysis: PodAnalysis,
  settings: InjectionSettings,
): ContainerWrap['handlers'] | { denial: string } {
  const wrapper = wrapperPath(settings.volumePath);
  const handlers = execCommands(container).filter(({ command }) => command[0] !== wrapper);
  for (const { handler, command } of handlers) {
    const clash = subcommandClash(command, settings.image);
    if (clash !== undefined) {
      return { denial: `container "${container.name}": its ${handler.label} runs ${clash}; write the program's absolute path, such as "/bin/${command[0]}"` };
    }
  }
  return handlers.map(({ handler, command }) => ({ handler, command: [wrapper, ...runtimeArgs(provider, analysis.options, false), ...command] }));
}

/**
 * The kubelet replaces `$(NAME)` in the container's own `command`/`args` before
 * secrets-init starts, so such an argument gets the reference, never the secret.
 */
function argumentWarnings(container: ContainerAnalysis): string[] {
  const { command, args } = container.slot.container;
  if (!(command ?? []).some(expands) && !(args ?? []).some(expands)) return [];
  const holding = new Set(container.references.map((r) => r.variable));
  const used = [...new Set([...(command ?? []), ...(args ?? [])].flatMap(expandedVariables))].filter((name) => holding.has(name));
  if (used.length === 0) return [];
  const forms = used.map((name) => `$(${name})`).join(', ');
  return [
    `container "${container.slot.container.name}": its command or args use ${forms}, which the kubelet replaces with the secret reference itself ` +
      'before secrets-init starts; read the variable in the app, or in a shell (sh -c \'… $NAME …\'), where it holds the secret',
  ];
}

function expands(word: string): boolean {
  return expandedVariables(word).length > 0;
}

/** One warning for each exec probe or hook that uses a variable holding a reference: it sees the reference itself. */
function handlerWarnings(container: ContainerAnalysis): string[] {
  const handlers = execCommands(container.slot.container);
  if (handlers.length === 0) return [];
  const holding = new Set(container.references.map((r) => r.variable));
  return handlers.flatMap(({ handler, command }) => {
    const used = [...referredVariables(command)].filter((name) => holding.has(name));
    if (used.length === 0) return [];
    return [
      `container "${container.slot.container.name}": the ${handler.label} uses ${used.join(', ')}, which hold${used.length === 1 ? 's' : ''} a secret reference; ` +
        `probes and hooks do not run under secrets-init and see the reference itself (annotation ${ANNOTATION_WRAP_EXEC}: "true" wraps them)`,
    ];
  });
}

/**
 * Under wrap-exec, one warning for each exec probe whose command uses `$(NAME)` of a variable
 * holding a reference: the kubelet expands a probe's `$(NAME)` itself from the container's env
 * as written (the reference, or nothing for a value from a Secret or ConfigMap) before
 * secrets-init runs the probe, so that word never holds the secret. Hooks are not expanded.
 */
function probeExpansionWarnings(container: ContainerAnalysis): string[] {
  const handlers = execCommands(container.slot.container);
  if (handlers.length === 0) return [];
  const holding = new Set(container.references.map((r) => r.variable));
  return handlers.flatMap(({ handler, command }) => {
    if (!handler.probe || !command.some(expands)) return [];
    const used = [...new Set(command.flatMap(expandedVariables))].filter((name) => holding.has(name));
    if (used.length === 0) return [];
    return [
      `container "${container.slot.container.name}": its ${handler.label} uses ${used.map((name) => `$(${name})`).join(', ')}, which the kubelet replaces before the probe runs, ` +
        'never with the secret; read the variable in a shell (sh -c \'… $NAME …\'), where secrets-init has resolved it',
    ];
  });
}

/** Our init container's name may be taken only by our own init container (one that mounts our volume). */
function reservedNameClash(pod: Pod, initIndex: number, settings: InjectionSettings): string | undefined {
  const reserved = `the container name "${INIT_CONTAINER_NAME}" is reserved for the init container that secrets-init injection adds; rename the pod's container`;
  if (pod.spec.containers.some((c) => c.name === INIT_CONTAINER_NAME)) return reserved;
  const existing = initIndex >= 0 ? pod.spec.initContainers?.[initIndex] : undefined;
  if (existing === undefined) return undefined;
  const mountsOurs = (existing.volumeMounts ?? []).some((m) => m.name === settings.volumeName && sameDirectory(m.mountPath, settings.volumePath));
  return mountsOurs ? undefined : reserved;
}

function mountProblem(container: Container, settings: InjectionSettings): 'present' | 'missing' | string {
  const mounts = container.volumeMounts ?? [];
  const atPath = mounts.find((m) => sameDirectory(m.mountPath, settings.volumePath));
  if (atPath === undefined) return 'missing';
  if (atPath.name === settings.volumeName) {
    // A sub-directory of our volume there hides the binary the init container copies to its root.
    const sub = typeof atPath['subPath'] === 'string' && atPath['subPath'] !== '' ? atPath['subPath'] : typeof atPath['subPathExpr'] === 'string' && atPath['subPathExpr'] !== '' ? atPath['subPathExpr'] : undefined;
    if (sub === undefined) return 'present';
    return `container "${container.name}" mounts only ${JSON.stringify(sub.slice(0, 64))} of volume "${settings.volumeName}" at ${settings.volumePath}, where secrets-init must find the whole volume; drop the subPath`;
  }
  return `container "${container.name}" already mounts volume "${atPath.name}" at ${settings.volumePath}, where secrets-init must be mounted`;
}

/**
 * Whether a mount path names the directory `path` (a clean absolute path) as the container
 * runtime resolves it: `/helper/bin/`, `/helper//bin` and `/helper/./bin` are `/helper/bin`,
 * and so is the relative `helper/bin` (the kubelet puts `/` before a path that is not absolute).
 * Absolute paths written plainly are compared as they stand, without cleaning them.
 */
function sameDirectory(mountPath: string, path: string): boolean {
  if (mountPath === path) return true;
  if (mountPath.startsWith('/') && !mountPath.endsWith('/') && !mountPath.includes('//') && !mountPath.includes('/.')) return false;
  const parts: string[] = [];
  for (const part of mountPath.split('/')) {
    if (part === '..') parts.pop();
    else if (part !== '' && part !== '.') parts.push(part);
  }
  return `/${parts.join('/')}` === path;
}

/** Records which containers carry secrets-init, as `{"containers":[…],"initContainers":[…]}`. */
function statusAnnotation(injected: ContainerAnalysis[]): string {
  const names = (role: ContainerRole) => injected.filter((c) => c.slot.role === role).map((c) => c.slot.container.name);
  return JSON.stringify({ containers: names('containers'), initContainers: names('initContainers') });
}
