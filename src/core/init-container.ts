import type { Container, Volume } from './pod.js';
import { parseImageReference } from './image-reference.js';

export const INIT_CONTAINER_NAME = 'copy-secrets-init';
/** The uid the published secrets-init image runs as. */
export const SECRETS_INIT_UID = 1000;
/** Releases before this one have no `copy` subcommand. */
const FIRST_COPY_RELEASE: readonly [number, number, number] = [0, 4, 0];

export type PullPolicy = 'Always' | 'IfNotPresent' | 'Never';

export interface InitContainerSettings {
  image: string;
  pullPolicy: PullPolicy;
  volumeName: string;
  /** Directory the binary is copied to; the wrapped command is `<volumePath>/secrets-init`. */
  volumePath: string;
}

export function wrapperPath(volumePath: string): string {
  return `${volumePath}/secrets-init`;
}

/**
 * What the init container runs, by the image's release: `copy DIR` from 0.4.0 on (and
 * for any tag that is not a version: `latest`, a branch, a digest alone), and the old
 * `cp` through the runtime before it.
 */
export function initContainerArgs(image: string, volumePath: string): string[] {
  const version = releaseOf(image);
  if (version && compareVersions(version, FIRST_COPY_RELEASE) < 0) {
    return ['cp', '/usr/local/bin/secrets-init', volumePath];
  }
  return ['copy', volumePath];
}

function releaseOf(image: string): [number, number, number] | undefined {
  const tag = parseImageReference(image).tag;
  const match = tag === undefined ? null : /^v?(\d+)\.(\d+)(?:\.(\d+))?(?:[-+].*)?$/.exec(tag);
  if (!match) return undefined;
  return [Number(match[1]), Number(match[2]), Number(match[3] ?? 0)];
}

function compareVersions(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < 3; i++) {
    const diff = (a[i] ?? 0) - (b[i] ?? 0);
    if (diff !== 0) return diff;
  }
  return 0;
}

export function buildInitContainer(settings: InitContainerSettings): Container {
  return {
    name: INIT_CONTAINER_NAME,
    image: settings.image,
    imagePullPolicy: settings.pullPolicy,
    args: initContainerArgs(settings.image, settings.volumePath),
    volumeMounts: [{ name: settings.volumeName, mountPath: settings.volumePath }],
    resources: {
      requests: { cpu: '10m', memory: '10Mi' },
      limits: { cpu: '10m', memory: '50Mi' },
    },
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

export function buildVolume(volumeName: string): Volume {
  return { name: volumeName, emptyDir: { medium: 'Memory' } };
}
