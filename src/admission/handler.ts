import type { BaseLogger } from 'pino';
import type { ImageConfig } from '../core/original-command.js';
import type { MutationOutcome, PodPlan } from '../core/pod-mutation.js';
import type { InjectionSettings } from '../core/settings.js';
import { imageConfigsNeeded, mutationOf, planPod } from '../core/pod-mutation.js';
import { mayReadObjects, referencedObjects } from '../core/env-sources.js';
import { leftAsIs } from '../core/left-as-is.js';
import { patchJson, toJsonPatch } from '../core/json-patch.js';
import { podDisplayName } from '../core/pod.js';
import type { Pod } from '../core/pod.js';
import { podPullFacts } from '../core/pull-facts.js';
import type { PodPullFacts } from '../core/pull-facts.js';
import type { KubeObjectReader } from '../kubernetes/lookup.js';
import { perAdmissionReader } from '../kubernetes/per-admission.js';
import type { ImageConfigSource } from '../images/image-config-source.js';
import type { AdmissionRequest, AdmissionResponse } from './review.js';
import { checkPod } from './pod-schema.js';
import { utf8Base64 } from './base64.js';
import { ObjectLookupFailure, readObjectFacts } from './object-reads.js';
import { Denial, decidePod, outcomeOfPlan } from './pod-outcome.js';
import type { PodLookups } from './pod-outcome.js';
import { objectFactsKey } from './object-facts-cache.js';
import type { AsyncCache } from '../cache/async-cache.js';
import type { EnvObject } from '../core/env-sources.js';
import type { ObjectFacts } from '../core/object-facts.js';
import { MAX_MESSAGE_CHARS, boundedOrigins, boundedWarnings, clip } from './bounded-text.js';
import type { AdmissionDeadline } from './deadline.js';
import { withinDeadline } from './deadline.js';

export interface AdmissionDependencies {
  settings: InjectionSettings;
  objects: KubeObjectReader;
  images: ImageConfigSource;
  /** Secrets and ConfigMaps read at once for one admission (--max-concurrent-reads). */
  maxConcurrentReads: number;
  /** One deadline for everything an admission waits for (--admission-timeout). */
  admissionTimeoutMs: number;
  /**
   * Facts of Secrets and ConfigMaps shared across admissions (--object-cache-ttl): reads of
   * one object by concurrent admissions are coalesced, and kept briefly. Without it each
   * admission reads its objects itself.
   */
  objectFacts?: AsyncCache<ObjectFacts>;
}

/**
 * How long the API server waits for this call: the `timeout` query parameter of the webhook's
 * URL (the configuration's timeoutSeconds, or less when the API request that caused it has
 * less time left), as written (`text`) and in milliseconds.
 */
export interface CallerTimeout { ms: number; text: string }

/** Of the caller's time, what the webhook keeps for answering after its deadline: a fifth of it, at most 1 s. */
const CALLER_MARGIN_MS = 1_000;

/** How an admission ended, for logs and metrics. */
export type AdmissionResult = 'injected' | 'unchanged' | 'skipped' | 'denied';

export interface AdmissionDecision { response: AdmissionResponse; result: AdmissionResult; pod?: string; containers?: string[] }

/**
 * Decides one admission request: allowed with a patch, allowed as is, or denied with a
 * reason. Never throws: a denial is an answer (HTTP 200, allowed: false), not an error.
 */
export async function decideAdmission(request: AdmissionRequest, deps: AdmissionDependencies, log?: Pick<BaseLogger, 'error'>, callerTimeout?: CallerTimeout): Promise<AdmissionDecision> {
  const uid = request.uid;
  if (request.kind?.kind !== 'Pod' || (request.kind.group ?? '') !== '' || request.operation !== 'CREATE' || (request.subResource ?? '') !== '') {
    return { response: { uid, allowed: true }, result: 'skipped' };
  }
  const checked = checkPod(request.object);
  if ('problem' in checked) return deny(uid, new Denial(checked.problem, 403), malformedPodName(request), []);
  const pod = checked.pod;
  const namespace = request.namespace || pod.metadata?.namespace || 'default';
  const name = clip(`${namespace}/${podDisplayName(pod)}`, 320);
  let warnings: string[] = [];
  try {
    // Most pods: nothing of ours in them, decided without a plan.
    if (leftAsIs(pod, deps.settings)) return { response: { uid, allowed: true }, result: 'unchanged', pod: name };
    const outcome = await podOutcome(pod, namespace, deps, callerTimeout);
    warnings = outcome.warnings;
    if (!outcome.allowed) throw new Denial(outcome.reason, 403);
    if (outcome.mutation === undefined) return { response: withWarnings({ uid, allowed: true }, warnings), result: 'unchanged', pod: name };
    const patch = toJsonPatch(pod, outcome.mutation);
    const containers = Object.keys(outcome.mutation.audit);
    const response: AdmissionResponse = {
      uid,
      allowed: true,
      patchType: 'JSONPatch',
      patch: utf8Base64(patchJson(patch)),
    };
    if (containers.length > 0) {
      response.auditAnnotations = {
        'injected-containers': containers.join(','),
        'secret-references': JSON.stringify(Object.fromEntries(Object.entries(outcome.mutation.audit).map(([container, origins]) => [container, boundedOrigins(origins)]))),
      };
    }
    return { response: withWarnings(response, warnings), result: 'injected', pod: name, containers };
  } catch (error) {
    if (error instanceof Denial) return deny(uid, error, name, warnings);
    if (error instanceof ObjectLookupFailure) return deny(uid, new Denial(error.message, 500), name, warnings);
    log?.error({ err: error, uid, pod: name }, 'admission failed unexpectedly');
    return deny(uid, new Denial("internal error; the webhook's log has the details", 500), name, warnings);
  }
}

const NO_OBJECTS: ReadonlyMap<string, ObjectFacts> = new Map();
const NO_IMAGE_CONFIGS: ReadonlyMap<string, ImageConfig> = new Map();

/**
 * The pod's outcome. A pod that reads no Secret or ConfigMap is planned at once, and when it
 * needs no image config either (the common case: references inline, or none at all) decided
 * at once: nothing to wait for, so no deadline to keep. Everything else waits within
 * --admission-timeout, or within the caller's timeout less a margin when that is sooner: an
 * answer the API server no longer waits for is lost (it reports a timeout instead of the
 * reason, or admits the pod unwrapped under failurePolicy Ignore).
 */
async function podOutcome(pod: Pod, namespace: string, deps: AdmissionDependencies, callerTimeout: CallerTimeout | undefined): Promise<MutationOutcome> {
  let plan: PodPlan | undefined;
  if (!mayReadObjects(pod) || referencedObjects(pod, deps.settings).length === 0) {
    plan = planPod(pod, { namespace, objects: NO_OBJECTS }, deps.settings);
    if (imageConfigsNeeded(plan).length === 0) return mutationOf(plan, NO_IMAGE_CONFIGS);
  }
  const planned = plan;
  let timeoutMs = deps.admissionTimeoutMs;
  let bound = '--admission-timeout';
  if (callerTimeout !== undefined) {
    const callerMs = Math.max(1, Math.floor(callerTimeout.ms - Math.min(CALLER_MARGIN_MS, callerTimeout.ms / 5)));
    if (callerMs < timeoutMs) {
      timeoutMs = callerMs;
      bound = `the API server's timeout=${callerTimeout.text}`;
    }
  }
  const timed = await withinDeadline(timeoutMs, (deadline) => {
    const lookups = podLookups(pod, namespace, deps, deadline);
    return planned !== undefined ? outcomeOfPlan(planned, lookups) : decidePod(pod, namespace, deps.settings, lookups, deps.maxConcurrentReads).then((decided) => decided.outcome);
  });
  if (timed.ok) return timed.value;
  const waiting = timed.pending.length > 0 ? `; still waiting for ${timed.pending.join(', ')}` : '';
  throw new Denial(`no answer within ${timeoutMs}ms (${bound})${waiting}`, 500);
}

/**
 * How this admission reads objects and image configs: each tracked by its deadline. An image
 * lookup may be joined by other admissions of the same scope, so the pull secrets it reads
 * are not read on this admission's behalf: its deadline must not abort them for the others
 * (each read keeps its own --lookup-timeout, and the lookup its registry bounds).
 */
function podLookups(pod: Pod, namespace: string, deps: AdmissionDependencies, deadline: AdmissionDeadline): PodLookups {
  let pull: { facts: PodPullFacts; objects: KubeObjectReader } | undefined;
  const imageLookups = () => (pull ??= { facts: podPullFacts(pod), objects: perAdmissionReader(deps.objects) });
  return {
    signal: deadline.signal,
    objectFacts: factsLoader(deps, namespace, perAdmissionReader(deps.objects, deadline), deadline),
    imageConfig: (need) => {
      const { facts, objects } = imageLookups();
      return deadline.track(`the image config of container "${need.container}" (${clip(need.image, 200)})`, deps.images.configOf({ ...need, namespace, pod: facts, objects }));
    },
  };
}

/**
 * Longest name of a Secret or ConfigMap (a DNS subdomain) and of a namespace (a DNS label):
 * the facts cache weighs an entry as if its key were no longer (object-facts-cache.ts). A
 * longer one, which only a hand-made review can hold, is read by the admission itself and
 * never kept: in the cache, 300 admissions naming Secrets of 200,000 characters kept 58 MiB
 * past its bound (expired entries stay until evicted, and 10,000 fit).
 */
const MAX_CACHED_NAME_CHARS = 253;
const MAX_CACHED_NAMESPACE_CHARS = 63;

/**
 * How this admission learns an object's facts: through the shared cache (a read that
 * other admissions may join, so it is not aborted with this admission: it keeps its own
 * --lookup-timeout; this admission stops waiting at its deadline), or by its own read.
 */
function factsLoader(deps: AdmissionDependencies, namespace: string, reader: KubeObjectReader, deadline: AdmissionDeadline): (object: EnvObject) => Promise<ObjectFacts> {
  const cache = deps.objectFacts;
  if (cache === undefined || namespace.length > MAX_CACHED_NAMESPACE_CHARS) return (object) => readObjectFacts(reader, namespace, object);
  return (object) =>
    object.name.length > MAX_CACHED_NAME_CHARS ? readObjectFacts(reader, namespace, object) : deadline.track(
      `${object.kind} ${namespace}/${object.name}`,
      cache.get(objectFactsKey(object.kind, namespace, object.name), () => readObjectFacts(deps.objects, namespace, object)),
    );
}

/** `namespace/name` of a pod that failed its shape check, from what of its metadata can be read. */
function malformedPodName(request: AdmissionRequest): string {
  const object = request.object;
  const metadata = typeof object === 'object' && object !== null ? (object as Record<string, unknown>)['metadata'] : undefined;
  const meta = typeof metadata === 'object' && metadata !== null ? (metadata as Record<string, unknown>) : {};
  const text = (value: unknown) => (typeof value === 'string' && value !== '' ? value : undefined);
  const generateName = text(meta['generateName']);
  const name = text(meta['name']) ?? (generateName !== undefined ? `${generateName}<generated>` : '<unnamed>');
  return clip(`${request.namespace || text(meta['namespace']) || 'default'}/${name}`, 320);
}

function withWarnings(response: AdmissionResponse, warnings: string[]): AdmissionResponse {
  return warnings.length > 0 ? { ...response, warnings: boundedWarnings(warnings) } : response;
}

function deny(uid: string, denial: Denial, pod: string | undefined, warnings: string[]): AdmissionDecision {
  const message = clip(pod === undefined ? denial.message : `pod ${pod}: ${denial.message}`, MAX_MESSAGE_CHARS);
  const response: AdmissionResponse = {
    uid,
    allowed: false,
    status: { code: denial.code, reason: denial.code === 403 ? 'Forbidden' : 'InternalError', message },
  };
  const decision: AdmissionDecision = { response: withWarnings(response, warnings), result: 'denied' };
  if (pod !== undefined) decision.pod = pod;
  return decision;
}
