/**
 * What happens to one pod once its referenced objects and image configs can be learned:
 * the order of reads and lookups the webhook follows, shared with `inject`. The rules are
 * the core's (planPod, mutationOf); this only asks for the facts they need.
 */
import type { EnvObject } from '../core/env-sources.js';
import { referencedObjects } from '../core/env-sources.js';
import type { ObjectFacts } from '../core/object-facts.js';
import type { ImageConfig } from '../core/original-command.js';
import type { ImageConfigNeed, MutationOutcome, PodPlan } from '../core/pod-mutation.js';
import { imageConfigsNeeded, mutationOf, planPod } from '../core/pod-mutation.js';
import type { Pod } from '../core/pod.js';
import type { InjectionSettings } from '../core/settings.js';
import { tooManyVariables } from '../core/analysis.js';
import { COMMAND_ANNOTATION_PREFIX } from '../core/command-override.js';
import { ImageConfigError } from '../images/image-config-source.js';
import { VariableBudgetExceeded, resolveObjectFacts } from './object-reads.js';

/** A denial the user can fix (403) or one caused by a dependency (500); `imageConfigs` when image config lookups failed. */
export class Denial extends Error {
  constructor(message: string, readonly code: 403 | 500, readonly imageConfigs = false) {
    super(message);
  }
}

/** How the facts a pod needs are learned (from the API and registries, or from manifests). */
export interface PodLookups {
  /** The facts of a Secret or ConfigMap in the pod's namespace; values already dropped. */
  objectFacts(object: EnvObject): Promise<ObjectFacts>;
  /** The config of the image of a container that has no `command`; rejects with ImageConfigError. */
  imageConfig(need: ImageConfigNeed): Promise<ImageConfig>;
  /**
   * Aborted when nobody waits for the answer any more (the admission's deadline passed): the
   * reads still queued behind the concurrency bound are then not started.
   */
  signal?: AbortSignal;
}

export interface DecidedPod {
  plan: PodPlan;
  outcome: MutationOutcome;
}

/**
 * Reads the objects the pod references (at most `concurrentReads` at a time, within the
 * pod limits), plans the pod once, looks up the image configs the plan needs, and gives
 * the mutation. Throws Denial for what the webhook denies before planning (limits) or
 * after failed image lookups; ObjectLookupFailure when an object cannot be read; the reason
 * of `lookups.signal` once it is aborted during the reads.
 */
export async function decidePod(pod: Pod, namespace: string, settings: InjectionSettings, lookups: PodLookups, concurrentReads: number): Promise<DecidedPod> {
  const wanted = referencedObjects(pod, settings);
  const { objectsPerPod, variablesPerPod } = settings.limits;
  if (wanted.length > objectsPerPod) {
    throw new Denial(`the pod reads ${wanted.length} Secrets and ConfigMaps in its environment, more than ${objectsPerPod}; split it, or raise --max-objects-per-pod`, 403);
  }
  let objects: Map<string, ObjectFacts>;
  try {
    objects = await resolveObjectFacts(wanted, namespace, (object) => lookups.objectFacts(object), { concurrency: concurrentReads, maxVariables: variablesPerPod }, lookups.signal);
  } catch (error) {
    if (error instanceof VariableBudgetExceeded) throw new Denial(tooManyVariables(variablesPerPod), 403);
    throw error;
  }
  const plan = planPod(pod, { namespace, objects }, settings);
  return { plan, outcome: await outcomeOfPlan(plan, lookups) };
}

/**
 * Most distinct images one pod may need the config of. Real pods name a few; each is a
 * registry lookup (a tag resolution, a manifest and a config, with their TLS handshakes), so a
 * crafted pod naming 10,000 images cost 10,000 lookups and seconds of CPU.
 */
export const MAX_IMAGE_LOOKUPS_PER_POD = 100;

/**
 * Looks up the image configs the plan needs, one lookup for each image (however many
 * containers name it), then gives its mutation; throws Denial when a lookup fails, or when
 * the pod needs more than MAX_IMAGE_LOOKUPS_PER_POD images.
 */
export async function outcomeOfPlan(plan: PodPlan, lookups: Pick<PodLookups, 'imageConfig'>): Promise<MutationOutcome> {
  const needs = imageConfigsNeeded(plan);
  if (needs.length === 0) return mutationOf(plan, new Map());
  // The first container of each image asks for it (and a failure names it).
  const byImage = new Map<string, ImageConfigNeed>();
  for (const need of needs) if (!byImage.has(need.image)) byImage.set(need.image, need);
  if (byImage.size > MAX_IMAGE_LOOKUPS_PER_POD) {
    throw new Denial(
      `the containers without "command" name ${byImage.size} images, more than the ${MAX_IMAGE_LOOKUPS_PER_POD} whose ENTRYPOINT and CMD one pod may have looked up; ` +
        `set "command" on the containers, or the ${COMMAND_ANNOTATION_PREFIX}<container> annotations`,
      403,
    );
  }
  const configs = new Map<string, ImageConfig>();
  const failures: ImageConfigError[] = [];
  await Promise.all(
    [...byImage.values()].map(async (need) => {
      try {
        configs.set(need.image, await lookups.imageConfig(need));
      } catch (error) {
        if (!(error instanceof ImageConfigError)) throw error;
        failures.push(error);
      }
    }),
  );
  if (failures.length > 0) {
    // The user's to fix (403) unless a registry or credential source failed (500).
    const code = failures.some((failure) => failure.fault === 'dependency') ? 500 : 403;
    throw new Denial(failures.map((failure) => failure.message).join('; '), code, true);
  }
  const imageConfigs = new Map<string, ImageConfig>();
  for (const need of needs) {
    const config = configs.get(need.image);
    if (config !== undefined) imageConfigs.set(need.container, config);
  }
  return mutationOf(plan, imageConfigs);
}
