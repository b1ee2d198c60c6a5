import type { Container, ResourceRequirements, Volume } from './pod.js';
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

const built: Record<InitContainerResources, WeakMap<InitContainerSettings, Container>> = { default: new WeakMap(), guaranteed: new WeakMap() };

/**
 * Our init container for these settings, built once per settings object (the server's
 * never change) and kind of resources, frozen and serialised once, since every admission
 * shares it.
 */
export function buildInitContainer(settings: InitContainerSettings, resources: InitContainerResources = 'default'): Container {
  let container = built[resources].get(settings);
  if (container === undefined) {
    container = sharedValue(initContainerOf(settings, resources));
    built[resources].set(settings, container);
  }
  return container;
}

function initContainerOf(settings: InitContainerSettings, resources: InitContainerResources): Container {
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
      runAsUser: SECRETS_INIT_UID,
      runAsGroup: SECRETS_INIT_UID,
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
