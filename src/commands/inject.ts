/**
 * `inject`: the webhook's mutation applied to manifests offline. Every Pod and workload pod
 * template goes through the same steps as an admission (decidePod: reads, one plan, image
 * lookups, the core's mutation, the same JSON Patch), with Secrets and ConfigMaps taken from
 * the input first, then from the cluster when one is configured.
 */
import jsonPatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import type { InjectOptions } from '../cli/parse.js';
import { DEFAULTS } from '../cli/flags.js';
import type { EnvObject, ObjectUse } from '../core/env-sources.js';
import { envSources, objectKey, referencedObjects } from '../core/env-sources.js';
import { toJsonPatch } from '../core/json-patch.js';
import { containerSlots } from '../core/pod.js';
import type { Pod } from '../core/pod.js';
import { podPullFacts } from '../core/pull-facts.js';
import type { PodPullFacts } from '../core/pull-facts.js';
import type { InjectionSettings } from '../core/settings.js';
import { buildInitContainer } from '../core/init-container.js';
import { readObjectFacts, ObjectLookupFailure } from '../admission/object-reads.js';
import { Denial, decidePod } from '../admission/pod-outcome.js';
import { checkPod } from '../admission/pod-schema.js';
import type { DecidedPod } from '../admission/pod-outcome.js';
import type { ImageConfigSource } from '../images/image-config-source.js';
import { RegistrySetupError, configuredImageSource } from '../images/configured-source.js';
import { LookupError } from '../kubernetes/lookup.js';
import type { DataObjectRef, KubeObjectReader, ObjectLookup } from '../kubernetes/lookup.js';
import { ManifestError, readManifests, sourceName, writeJson, writeYamlStream } from '../manifests/documents.js';
import type { ManifestDocument } from '../manifests/documents.js';
import { InputObjects, manifestReader } from '../manifests/manifest-reader.js';
import { objectsOf, podSiteOf, sameValue, unknownTemplateKind } from '../manifests/workloads.js';
import { YamlPatcher } from '../manifests/yaml-patch.js';
import { expandedValue } from '../manifests/yaml-aliases.js';
import type { PathSegment, PodSite } from '../manifests/workloads.js';
import { explainPod } from './explain.js';
import { CLUSTER_FAILURES, ClusterAccessError, openCluster } from './cluster.js';
import type { Cluster } from './cluster.js';

export interface CommandIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  /** Stdin: its bytes (decoded as UTF-8 as files are), or text already decoded. */
  readStdin(): Promise<string | Uint8Array>;
  env: Readonly<Record<string, string | undefined>>;
}

/** Exit codes: 0 done; 1 something in the manifests needs attention (or --check found changes); 2 the command could not run. */
export type ExitCode = 0 | 1 | 2;

interface Workload {
  document: ManifestDocument;
  site: PodSite;
  namespace: string;
  label: string;
}

export async function runInject(options: InjectOptions, io: CommandIo): Promise<ExitCode> {
  const fail = (message: string): ExitCode => {
    io.stderr.write(`secrets-init-webhook inject: ${message}\n`);
    return 2;
  };
  let documents: ManifestDocument[];
  try {
    documents = await readManifests(options.files, io.readStdin);
  } catch (error) {
    if (error instanceof ManifestError) return fail(error.message);
    throw error;
  }

  let cluster: Cluster | undefined;
  try {
    cluster = await openCluster(options.kube, io.env);
  } catch (error) {
    if (error instanceof ClusterAccessError) return fail(error.message);
    throw error;
  }
  const defaultNamespace = options.namespace ?? cluster?.namespace ?? 'default';

  const settings: InjectionSettings = { ...options.injection };
  buildInitContainer(settings);
  let images: ImageConfigSource;
  try {
    images = await configuredImageSource(options.registry, { warn: (message) => io.stderr.write(`warning: ${message}\n`), tagTtlMs: 0 });
  } catch (error) {
    if (error instanceof RegistrySetupError) return fail(error.message);
    throw error;
  }

  const input = new InputObjects();
  const workloads: Workload[] = [];
  const documentsPerSource = new Map<string, number>();
  for (const document of documents) documentsPerSource.set(document.source, (documentsPerSource.get(document.source) ?? 0) + 1);
  const placeOf = (document: ManifestDocument): string => {
    const source = sourceName(document.source);
    return (documentsPerSource.get(document.source) ?? 0) > 1 ? `${source}, document ${document.position}` : source;
  };
  /** Pod templates in kinds inject does not know: left as they are, and said so. */
  const unknownKinds: string[] = [];
  for (const document of documents) {
    for (const object of objectsOf(document.value)) {
      input.add(object, defaultNamespace);
      const site = podSiteOf(object);
      if (site === undefined) {
        const kind = unknownTemplateKind(object);
        if (kind !== undefined) unknownKinds.push(`${kind} ${objectName(object.value)} (${placeOf(document)})`);
        continue;
      }
      const namespace = site.namespace ?? defaultNamespace;
      workloads.push({ document, site, namespace, label: `${site.kind} ${namespace}/${site.name} (${placeOf(document)})` });
    }
  }

  const reader = manifestReader(input, cluster?.reader);
  const patchers = new Map<ManifestDocument, YamlPatcher>();
  const patcherOf = (document: ManifestDocument): YamlPatcher => {
    const made = patchers.get(document) ?? new YamlPatcher(document.yaml);
    patchers.set(document, made);
    return made;
  };
  const changed = new Set<ManifestDocument>();
  const changes: string[] = [];
  let problems = 0;
  for (const workload of workloads) {
    const { site, namespace, label } = workload;
    // The shape checks of an admission: what the webhook would deny as malformed, denied here too.
    const checked = checkPod(site.pod);
    if ('problem' in checked) {
      io.stderr.write(`error: ${label}: the webhook would deny this pod: ${checked.problem}\n`);
      problems++;
      continue;
    }
    const pod = checked.pod;
    pod.metadata = { ...pod.metadata, namespace };
    const unresolved = cluster === undefined ? unresolvedReferences(pod, settings, input, namespace) : [];
    if (unresolved.length > 0) {
      for (const line of unresolved) io.stderr.write(`${options.allowUnresolved ? 'warning' : 'error'}: ${label}: ${line.text}\n`);
      if (!options.allowUnresolved) {
        problems++;
        continue;
      }
    }
    const assumed = new Map(unresolved.map((entry) => [objectKey(entry.use.object), entry.use]));
    const podReader = assumingNoReferences(reader, assumed);
    const clusterFailures: LookupError[] = [];
    // Once for all the pod's image lookups.
    let pullFacts: PodPullFacts | undefined;
    let decided: DecidedPod;
    try {
      decided = await decidePod(
        pod,
        namespace,
        settings,
        {
          objectFacts: (object: EnvObject) => readObjectFacts(recordingFailures(podReader, clusterFailures), namespace, object),
          imageConfig: (need) => {
            const given = options.imageCommands.get(need.image);
            return given !== undefined ? Promise.resolve(given) : images.configOf({ ...need, namespace, pod: (pullFacts ??= podPullFacts(pod)), objects: podReader });
          },
        },
        Number(DEFAULTS.maxConcurrentReads),
      );
    } catch (error) {
      const unreachable = clusterFailures.find((failure) => CLUSTER_FAILURES.has(failure.cause));
      if (unreachable !== undefined && cluster !== undefined) return fail(`cannot read from the cluster at ${cluster.server}: ${unreachable.message}`);
      if (error instanceof Denial || error instanceof ObjectLookupFailure) {
        io.stderr.write(`error: ${label}: the webhook would deny this pod: ${error.message}${error instanceof Denial && error.imageConfigs ? " (--image-command IMAGE=JSON gives an image's ENTRYPOINT/CMD without a registry)" : ''}\n`);
        problems++;
        continue;
      }
      throw error;
    }
    const { outcome } = decided;
    for (const warning of outcome.warnings) io.stderr.write(`warning: ${label}: ${warning}\n`);
    if (options.explain) io.stderr.write(explainPod(label, decided));
    if (!outcome.allowed) {
      io.stderr.write(`error: ${label}: the webhook would deny this pod: ${outcome.reason}\n`);
      problems++;
      continue;
    }
    if (outcome.mutation === undefined) continue;
    const containers = Object.keys(outcome.mutation.audit);
    changes.push(`${label}: secrets-init would wrap ${containers.length === 1 ? 'container' : 'containers'} ${containers.map((name) => `"${name}"`).join(', ')}`);
    if (options.check) continue;
    try {
      writeBack(workload, pod, toJsonPatch(pod, outcome.mutation), patcherOf(workload.document));
    } catch (error) {
      // Never the library's message: it quotes the whole object.
      io.stderr.write(`error: ${label}: internal error: the webhook's patch does not apply to this pod (${error instanceof Error ? error.name : 'error'})\n`);
      problems++;
      continue;
    }
    changed.add(workload.document);
  }

  for (const document of changed) {
    if (writtenRight(document)) continue;
    io.stderr.write(`error: ${placeOf(document)}: internal error: the document as it would be written does not read back as the injected pods\n`);
    problems++;
  }

  for (const kind of unknownKinds) {
    io.stderr.write(`note: ${kind}: a pod template in a kind inject does not know, left as it is (the webhook injects its pods as they are created)\n`);
  }
  if (options.check) {
    for (const line of changes) io.stdout.write(`${line}\n`);
    if (changes.length === 0 && problems === 0) {
      const unchecked = unknownKinds.length > 0 ? ` (${unknownKinds.length} pod ${unknownKinds.length === 1 ? 'template' : 'templates'} of other kinds not checked)` : '';
      io.stderr.write(`every pod is injected already, or needs no injection${unchecked}\n`);
    }
    return changes.length > 0 || problems > 0 ? 1 : 0;
  }
  if (problems > 0) {
    io.stderr.write(`${problems} ${problems === 1 ? 'workload needs' : 'workloads need'} attention; nothing written\n`);
    return 1;
  }
  io.stdout.write(options.output === 'json' ? writeJson(documents.map((document) => document.value)) : writeYamlStream(documents, changed));
  return 0;
}


/**
 * The pod patched as the webhook's JSON Patch says, written into the document: its data
 * (the pod's spec and annotations as the patch leaves them), and its YAML, where each
 * operation edits only the nodes it names.
 */
function writeBack(workload: Workload, pod: Pod, patch: Operation[], yaml: YamlPatcher): void {
  const { site, document } = workload;
  const patched = jsonPatch.applyPatch(structuredClone(pod), patch, true, false).newDocument;
  const annotations = patched.metadata?.annotations;
  setIn(document.value, [...site.path, 'spec'], patched.spec);
  if (annotations !== undefined && JSON.stringify(annotations) !== JSON.stringify(pod.metadata?.annotations)) setIn(document.value, [...site.path, 'metadata', 'annotations'], annotations);
  yaml.apply(site.path, patch);
}

/** Whether the document's YAML reads as its data: what the webhook's patch made of the pods, written right. */
function writtenRight(document: ManifestDocument): boolean {
  try {
    return sameValue(expandedValue(document.yaml), document.value);
  } catch {
    return false;
  }
}

function setIn(root: Record<string, unknown>, path: readonly PathSegment[], value: unknown): void {
  let current: Record<string | number, unknown> = root;
  for (const [i, segment] of path.entries()) {
    if (i === path.length - 1) {
      current[segment] = value;
      return;
    }
    const next = current[segment];
    if (typeof next !== 'object' || next === null) current[segment] = {};
    current = current[segment] as Record<string | number, unknown>;
  }
}

interface Unresolved {
  use: ObjectUse;
  text: string;
}

/** The objects the pod reads that the input does not hold (without a cluster, nothing else can tell what they hold). */
function unresolvedReferences(pod: Pod, settings: InjectionSettings, input: InputObjects, namespace: string): Unresolved[] {
  return referencedObjects(pod, settings)
    .filter((use) => !input.has(use.object.kind, namespace, use.object.name))
    .map((use) => {
      const readers: string[] = [];
      for (const { container } of containerSlots(pod)) {
        for (const source of envSources(container)) {
          if (source.type !== 'key' && source.type !== 'object') continue;
          if (objectKey(source.object) !== objectKey(use.object)) continue;
          readers.push(source.type === 'key' ? `container "${container.name}" (${source.variable} from key "${source.key}")` : `container "${container.name}" (envFrom, every key)`);
        }
      }
      return { use, text: `${use.object.kind} ${namespace}/${use.object.name}, read by ${[...new Set(readers)].join(', ')}, is not in the input and no cluster is configured to read it from` };
    });
}

/** Objects the user let go unresolved (--allow-unresolved) read as holding no reference in the keys asked for. */
function assumingNoReferences(reader: KubeObjectReader, assumed: ReadonlyMap<string, ObjectUse>): KubeObjectReader {
  if (assumed.size === 0) return reader;
  return {
    read(ref: DataObjectRef): Promise<ObjectLookup> {
      const use = assumed.get(objectKey({ kind: ref.kind, name: ref.name }));
      if (use === undefined) return reader.read(ref);
      const data = new Map<string, string>();
      if (use.keys !== 'all') for (const key of use.keys) data.set(key, '');
      return Promise.resolve({ found: true, data });
    },
    readServiceAccount: (namespace, name) => reader.readServiceAccount(namespace, name),
  };
}

function recordingFailures(reader: KubeObjectReader, failures: LookupError[]): KubeObjectReader {
  const record = (error: unknown): never => {
    if (error instanceof LookupError) failures.push(error);
    throw error;
  };
  return {
    read: (ref, options) => reader.read(ref, options).catch(record),
    readServiceAccount: (namespace, name, options) => reader.readServiceAccount(namespace, name, options).catch(record),
  };
}

/** `metadata.name` of an object, for messages. */
function objectName(value: Record<string, unknown>): string {
  const metadata = value['metadata'];
  const name = typeof metadata === 'object' && metadata !== null ? (metadata as Record<string, unknown>)['name'] : undefined;
  return typeof name === 'string' && name !== '' ? name : '<unnamed>';
}
