/**
 * Pod builders, fact builders and patch helpers shared by the core tests.
 */
import jsonpatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import { Pod as PodModel } from 'kubernetes-models/v1';
import type { Container, Pod } from '../../src/core/pod.js';
import type { EnvObject } from '../../src/core/env-sources.js';
import { objectKey } from '../../src/core/env-sources.js';
import type { ObjectFacts } from '../../src/core/object-facts.js';
import { deriveObjectFacts } from '../../src/core/object-facts.js';
import type { ImageConfig } from '../../src/core/original-command.js';
import type { MutationOutcome, PodMutation, ResolvedFacts } from '../../src/core/pod-mutation.js';
import type { InjectionSettings } from '../../src/core/settings.js';
import { DEFAULT_POD_LIMITS } from '../../src/core/settings.js';
import { DEFAULT_SUPERVISORS } from '../../src/core/supervisor.js';
import { NO_RUNTIME_OPTIONS } from '../../src/core/runtime-options.js';
import { computePodMutation } from '../../src/core/pod-mutation.js';
import { toJsonPatch } from '../../src/core/json-patch.js';

export const { applyPatch, deepClone } = jsonpatch;

export const SETTINGS: InjectionSettings = {
  image: 'ghcr.io/doitintl/secrets-init:0.5.3',
  pullPolicy: 'IfNotPresent',
  volumeName: 'secrets-init-bin',
  volumePath: '/helper/bin',
  runtime: NO_RUNTIME_OPTIONS,
  supervisors: DEFAULT_SUPERVISORS,
  limits: DEFAULT_POD_LIMITS,
};

export const NAMESPACE = 'team-a';

/** References of both providers, in every form the runtime resolves. */
export const AWS_REFS = [
  'arn:aws:secretsmanager:us-east-1:123456789012:secret:db-password-AbCdEf',
  'arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:api-key',
  'arn:aws:ssm:us-east-1:123456789012:parameter/app/token',
  'arn:aws-cn:ssm:cn-north-1:123456789012:parameter/app/token:3',
] as const;
export const GOOGLE_REFS = [
  'gcp:secretmanager:projects/my-project/secrets/db-password',
  'gcp:secretmanager:projects/my-project/secrets/api-key/versions/latest',
  'gcp:secretmanager:projects/1234/secrets/token/versions/7',
] as const;
/** Values that look close to references but are not. */
export const NEAR_MISSES = [
  'ARN:AWS:SECRETSMANAGER:us-east-1:1:secret:x',
  'arn:aws:s3:::bucket',
  'arn:aws:ssm:us-east-1:123456789012:document/x',
  'x arn:aws:secretsmanager:us-east-1:1:secret:x',
  'prefix-gcp:secretmanager:projects/p/secrets/s',
  'gcp:secretsmanager:projects/p/secrets/s',
  'postgres://db:5432/app',
] as const;

export function container(name: string, fields: Partial<Container> = {}): Container {
  return { name, image: `registry.example.com/${name}:1.0`, ...fields };
}

export function pod(spec: Partial<Pod['spec']> & { containers: Container[] }, annotations?: Record<string, string>): Pod {
  const metadata: Pod['metadata'] = { name: 'app', namespace: NAMESPACE };
  if (annotations !== undefined) metadata.annotations = annotations;
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec };
}

/** Object facts as the webhook derives them; `undefined` data = the object does not exist. */
export function objects(entries: Array<[EnvObject, Record<string, string> | undefined]>): Map<string, ObjectFacts> {
  return new Map(entries.map(([object, data]) => [objectKey(object), deriveObjectFacts(data === undefined ? undefined : new Map(Object.entries(data)))]));
}

export function facts(
  objectFacts: ReadonlyMap<string, ObjectFacts> = new Map(),
  imageConfigs: Record<string, ImageConfig> = {},
): ResolvedFacts {
  return { namespace: NAMESPACE, objects: objectFacts, imageConfigs: new Map(Object.entries(imageConfigs)) };
}

/** Applies a patch the way the API server does, refusing invalid operations. */
export function applyOps(target: Pod, ops: Operation[]): Pod {
  return applyPatch(deepClone(target) as Pod, ops, true).newDocument;
}

export interface Mutated { outcome: MutationOutcome; mutation: PodMutation; ops: Operation[]; result: Pod }

/** Mutates, requires an allowed outcome with a mutation, and applies its patch. */
export function mutateAndApply(input: Pod, resolved: ResolvedFacts = facts(), settings: InjectionSettings = SETTINGS): Mutated {
  const outcome = computePodMutation(input, resolved, settings);
  if (!outcome.allowed) throw new Error(`expected the pod to be allowed, denied: ${outcome.reason}`);
  if (outcome.mutation === undefined) throw new Error('expected a mutation, got none');
  const ops = toJsonPatch(input, outcome.mutation);
  return { outcome, mutation: outcome.mutation, ops, result: applyOps(input, ops) };
}

/** Throws when the object is not a schema-valid Pod. */
export function validatePod(target: Pod): void {
  new PodModel({ ...target, apiVersion: 'v1', kind: 'Pod' } as ConstructorParameters<typeof PodModel>[0]).validate();
}

export function findContainer(target: Pod, name: string): Container | undefined {
  return [...(target.spec.initContainers ?? []), ...target.spec.containers].find((c) => c.name === name);
}
