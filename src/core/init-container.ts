import type { Container, Pod, ResourceRequirements, Volume } from './pod.js';
import { imageSupports } from './runtime-release.js';
import { sharedValue } from './shared-json.js';

export const INIT_CONTAINER_NAME = 'copy-secrets-init';
/** The uid the published secrets-init image runs as. */
export const SECRETS_INIT_UID = 1000;

export type PullPolicy = 'Always' | 'IfNotPresent' | 'Never';

export interface InitContainerSettings {
  image: string;
  pullPolicy: PullPolicy;
  volumeName: string;
  /** Directory the binary is copied to; the wrapper is `<volumePath>/secrets-init` (see wrapping.ts). */
  volumePath: string;
  /**
   * The init container's runAsUser and runAsGroup (--init-container-user): a uid (unset:
   * SECRETS_INIT_UID), or 'unset' to leave both out, so that the image's user or the
   * platform's applies (OpenShift's restricted SCCs assign a uid from the namespace's range
   * and refuse any other).
   */
  initContainerUser?: number | 'unset';
}

/**
 * What the init container runs, by the image's release: `copy DIR` from 0.4.0 on (and
 * for any tag that is not a version: `latest`, a branch, a digest alone), and the old
 * `cp` through the runtime before it.
 */
export function initContainerArgs(image: string, volumePath: string): string[] {
  return imageSupports(image, 'copy') ? ['copy', volumePath] : ['cp', '/usr/local/bin/secrets-init', volumePath];
}

/**
 * Its resources: the reference's small requests and limits, or, in a pod whose QoS class is
 * Guaranteed, requests equal to the limits, since one container whose requests are below
 * its limits makes the whole pod Burstable.
 */
export type InitContainerResources = 'default' | 'guaranteed';

const RESOURCES: Record<InitContainerResources, ResourceRequirements> = {
  default: { requests: { cpu: '10m', memory: '10Mi' }, limits: { cpu: '10m', memory: '50Mi' } },
  guaranteed: { requests: { cpu: '10m', memory: '50Mi' }, limits: { cpu: '10m', memory: '50Mi' } },
};

/** What the pod says of the user its containers run as, where it decides ours. */
export type PodUser = 'root' | 'other';

/**
 * The pod's own user where our init container would inherit it: 'root' when its
 * securityContext sets runAsUser 0 (runAsNonRoot would then keep our container from
 * starting, unless it names a uid of its own).
 */
export function podUser(pod: Pod): PodUser {
  const context = pod.spec.securityContext;
  return typeof context === 'object' && context !== null && (context as { runAsUser?: unknown }).runAsUser === 0 ? 'root' : 'other';
}

const built: Record<InitContainerResources, Record<PodUser, WeakMap<InitContainerSettings, Container>>> = {
  default: { root: new WeakMap(), other: new WeakMap() },
  guaranteed: { root: new WeakMap(), other: new WeakMap() },
};

/**
 * Our init container for these settings, built once per settings object (the server's
 * never change), kind of resources and pod user, frozen and serialised once, since every
 * admission shares it.
 */
export function buildInitContainer(settings: InitContainerSettings, resources: InitContainerResources = 'default', user: PodUser = 'other'): Container {
  const byKind = built[resources][user];
  let container = byKind.get(settings);
  if (container === undefined) {
    container = sharedValue(initContainerOf(settings, resources, user));
    byKind.set(settings, container);
  }
  return container;
}

/**
 * The uid our container runs as: the settings', or none (left to the image or platform)
 * when they say 'unset', unless the pod runs as root, which runAsNonRoot would refuse.
 */
function runAsUserOf(settings: InitContainerSettings, user: PodUser): number | undefined {
  const configured = settings.initContainerUser ?? SECRETS_INIT_UID;
  if (configured !== 'unset') return configured;
  return user === 'root' ? SECRETS_INIT_UID : undefined;
}

function initContainerOf(settings: InitContainerSettings, resources: InitContainerResources, user: PodUser): Container {
  const uid = runAsUserOf(settings, user);
  return {
    name: INIT_CONTAINER_NAME,
    image: settings.image,
    imagePullPolicy: settings.pullPolicy,
    args: initContainerArgs(settings.image, settings.volumePath),
    volumeMounts: [{ name: settings.volumeName, mountPath: settings.volumePath }],
    resources: structuredClone(RESOURCES[resources]),
    // Passes the Pod Security Standard "restricted".
    securityContext: {
      runAsNonRoot: true,
      ...(uid !== undefined ? { runAsUser: uid, runAsGroup: uid } : {}),
      allowPrivilegeEscalation: false,
      privileged: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
}

const volumes = new Map<string, Volume>();

/**
 * Our in-memory volume: built once per name (one per server: a flag sets it), frozen and
 * serialised once. (A pod holds it once; the mount, which several containers of one pod
 * get, stays an object of its own each time: a shared one would come out of `inject` as a
 * YAML anchor and aliases.)
 */
export function buildVolume(volumeName: string): Volume {
  let volume = volumes.get(volumeName);
  if (volume === undefined) {
    volume = sharedValue<Volume>({ name: volumeName, emptyDir: { medium: 'Memory' } });
    volumes.set(volumeName, volume);
  }
  return volume;
}
