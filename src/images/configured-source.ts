/**
 * The registry-backed image config source the registry flags describe, shared by the server
 * and `inject`.
 */
import { readFile } from 'node:fs/promises';
import type { RegistryFlags } from '../cli/parse.js';
import { createRegistryClient } from '../registry/client.js';
import { defaultCloudProviders } from '../registry/credentials.js';
import type { ImageConfigSource } from './image-config-source.js';
import { registryImageSource } from './registry-source.js';

/** A registry flag's file cannot be used (unreadable or unparsable --registry-ca-file). */
export class RegistrySetupError extends Error {
  override readonly name = 'RegistrySetupError';
}

export interface ImageSourceHooks {
  warn(message: string): void;
  observeRequest?: (kind: 'manifest' | 'blob' | 'token', status: number | 'error') => void;
  observeLookup?: Parameters<typeof registryImageSource>[0]['observe'];
  /** How long a tag's config is kept (--image-cache-ttl); 0: not kept. */
  tagTtlMs: number;
}

export async function configuredImageSource(flags: RegistryFlags, hooks: ImageSourceHooks): Promise<ImageConfigSource> {
  let ca: string | undefined;
  if (flags.registryCaFile !== undefined) {
    try {
      ca = await readFile(flags.registryCaFile, 'utf8');
    } catch (error) {
      throw new RegistrySetupError(`cannot read --registry-ca-file ${flags.registryCaFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }
  let client;
  try {
    const observeRequest = hooks.observeRequest;
    client = createRegistryClient({
      timeoutMs: flags.registryTimeoutMs,
      skipVerify: flags.registrySkipVerify,
      insecureRegistries: flags.insecureRegistries,
      ...(flags.allowedRegistries !== undefined ? { allowedRegistries: flags.allowedRegistries } : {}),
      ...(observeRequest !== undefined ? { observeRequest: (what: string, status: number | 'error') => observeRequest(what === 'token' ? 'token' : what.includes('blob') ? 'blob' : 'manifest', status) } : {}),
      ...(ca !== undefined ? { ca } : {}),
    });
  } catch (error) {
    throw new RegistrySetupError(`--registry-ca-file ${flags.registryCaFile ?? ''}: ${(error as Error).message}`);
  }
  const { defaultImagePullSecret: name, defaultImagePullSecretNamespace: namespace } = flags;
  if ((name === undefined) !== (namespace === undefined)) {
    hooks.warn('--default-image-pull-secret and --default-image-pull-secret-namespace go together; the one given is ignored');
  }
  if (flags.registrySkipVerify) hooks.warn('--registry-skip-verify: registry TLS certificates are not verified');
  return registryImageSource({
    ...(hooks.observeLookup !== undefined ? { observe: hooks.observeLookup } : {}),
    client,
    dockerConfigJsonKey: flags.dockerConfigJsonKey,
    ...(name !== undefined && namespace !== undefined ? { defaultPullSecret: { name, namespace } } : {}),
    cloud: defaultCloudProviders(),
    defaultArchitecture: flags.defaultArchitecture,
    tagTtlMs: hooks.tagTtlMs,
  });
}
