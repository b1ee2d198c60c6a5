/**
 * Property tests of the pod mutation over generated pods and facts. An independent
 * model of the contract (reference-behaviour.md §2) predicts which containers hold
 * references, with which providers and options, and whether the pod must be denied;
 * the properties compare the code to it and check the patched pod itself, down to the
 * process the kubelet starts: the model expands `$(NAME)` and `$$` in the patched
 * `command`/`args` by the kubelet's rules and compares the result with what the
 * container ran before (its own words expanded, the image's taken as they are).
 * Generated values, commands and image configs hold `$(…)`, `$$` and plain `$`;
 * pods hold native sidecars, Argo steps, stdin and tty, exec probes and odd keys.
 */
import t from 'tap';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Operation } from 'fast-json-patch';
import { computePodMutation, imageConfigsNeeded, planPod } from '../../src/core/pod-mutation.js';
import type { MutationOutcome, ResolvedFacts } from '../../src/core/pod-mutation.js';
import { patchJson, toJsonPatch } from '../../src/core/json-patch.js';
import type { ImageConfig } from '../../src/core/original-command.js';
import type { Container, EnvFromSource, EnvVar, Pod, Volume, VolumeMount } from '../../src/core/pod.js';
import type { Provider } from '../../src/core/provider.js';
import type { EnvObjectKind } from '../../src/core/env-sources.js';
import { mayReadObjects, referencedObjects } from '../../src/core/env-sources.js';
import { leftAsIs } from '../../src/core/left-as-is.js';
import type { InjectionSettings } from '../../src/core/settings.js';
import { kubeletExpand, symbolicValue } from '../helpers/kubelet.js';
import { AWS_REFS, GOOGLE_REFS, NAMESPACE, NEAR_MISSES, SETTINGS as BASE_SETTINGS, applyOps, deepClone, objects, validatePod } from '../helpers/pods.js';

const NUM_RUNS = 200;
const ARGO = ['/var/run/argo/argoexec', 'emissary', '--'];
const TINI = ['/usr/bin/tini', '--'];
const SERVER_PROJECT = 'server-project';
/** The server as these properties run it: Argo's executor and tini as supervisors, a Google project for every pod. */
const SETTINGS: InjectionSettings = { ...BASE_SETTINGS, supervisors: [ARGO, TINI], runtime: { exitEarly: false, googleProject: SERVER_PROJECT } };
const WRAPPER = `${SETTINGS.volumePath}/secrets-init`;
const OUR_MOUNT: VolumeMount = { name: SETTINGS.volumeName, mountPath: SETTINGS.volumePath };

/** Every name is defined, as a marker no generated word contains: what expands shows. */
const expandWords = (words: readonly string[]) => words.map((word) => kubeletExpand(word, symbolicValue));

// ---------------------------------------------------------------- values

/** The model's own classifier: generated references come only from these lists. */
function modelProvider(value: string): Provider | undefined {
  if ((AWS_REFS as readonly string[]).includes(value)) return 'aws';
  if ((GOOGLE_REFS as readonly string[]).includes(value)) return 'google';
  return undefined;
}

/**
 * Which references a container's values or an object's data draw from. Mostly one
 * provider, so that not every pod mixing them is denied.
 */
type Flavour = 'aws' | 'google' | 'both';
const flavourArb = fc.oneof(
  { arbitrary: fc.constant<Flavour>('aws'), weight: 4 },
  { arbitrary: fc.constant<Flavour>('google'), weight: 4 },
  { arbitrary: fc.constant<Flavour>('both'), weight: 1 },
);
/** A pod mostly uses one provider throughout; some draw each object's and container's flavour apart. */
type CaseFlavour = Flavour | 'any';
const caseFlavourArb = fc.constantFrom<CaseFlavour>('aws', 'google', 'any');
const itemFlavourArb = (flavour: CaseFlavour): fc.Arbitrary<Flavour> => (flavour === 'any' ? flavourArb : fc.constant(flavour));
const REFERENCES: Record<Flavour, readonly string[]> = { aws: AWS_REFS, google: GOOGLE_REFS, both: [...AWS_REFS, ...GOOGLE_REFS] };
/** Values and words with `$` in every form the kubelet treats apart. */
const DOLLAR_VALUES = ['$(A)', 'x$(TOKEN)y', '$$(DB_URL)', '$', '$$', 'cost 5$', '$(', '$(my.key-1)', '$(UNDEFINED)', '$$$(A)'] as const;
const plainArb: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom<string>(...NEAR_MISSES),
  fc.constantFrom<string>(...DOLLAR_VALUES),
  // Parts of references, and values that expand them: references only where the kubelet expands the right part.
  fc.constantFrom<string>('aws', 'parameter/app/token', 'secretmanager:projects/my-project/secrets/db-password', 'arn:$(A):secretsmanager:us-east-1:123456789012:secret:db-password-AbCdEf', 'gcp:$(B)'),
  // Random text; nothing starting like a cloud reference.
  fc.string({ maxLength: 16 }).filter((s) => !/^(arn|gcp)/i.test(s)),
);
const valueArb = (flavour: Flavour) => fc.oneof(fc.constantFrom(...REFERENCES[flavour]), plainArb);

// ---------------------------------------------------------------- objects

const OBJECT_NAMES = ['o0', 'o1', 'o2'] as const;
const KINDS: readonly EnvObjectKind[] = ['Secret', 'ConfigMap'];
const KEYS = ['K0', 'K1', 'my.key-1'] as const;

/** Data of every object in the universe; undefined = does not exist. */
type Universe = Record<string, Record<string, string> | undefined>;
const universeKey = (kind: EnvObjectKind, name: string) => `${kind}/${name}`;

const universeArb = (flavour: CaseFlavour): fc.Arbitrary<Universe> => fc.record(
  Object.fromEntries(
    KINDS.flatMap((kind) =>
      OBJECT_NAMES.map((name) => [
        universeKey(kind, name),
        fc.oneof(
          { arbitrary: fc.constant(undefined), weight: 1 },
          { arbitrary: itemFlavourArb(flavour).chain((f) => fc.dictionary(fc.constantFrom(...KEYS), valueArb(f), { minKeys: 2, maxKeys: 3, noNullPrototype: true })), weight: 9 },
        ),
      ]),
    ),
  ) as Record<string, fc.Arbitrary<Record<string, string> | undefined>>,
  { noNullPrototype: true },
);

// ---------------------------------------------------------------- containers

const VOLUME_NAMES = ['data', 'cache', SETTINGS.volumeName] as const;
const MOUNT_PATHS = ['/data', '/cache', '/etc/config', SETTINGS.volumePath] as const;

const volumeArb = (name: string): fc.Arbitrary<Volume> =>
  fc.oneof(
    // Our name is mostly given to an emptyDir (reused), seldom to another kind (denied).
    ...(name === SETTINGS.volumeName ? [fc.constant<Volume>({ name, emptyDir: {} }), fc.constant<Volume>({ name, emptyDir: { medium: 'Memory' } })] : []),
    fc.constant<Volume>({ name, emptyDir: {} }),
    fc.constant<Volume>({ name, emptyDir: { medium: 'Memory' } }),
    fc.constant<Volume>({ name, configMap: { name: 'files' } }),
    fc.constant<Volume>({ name, secret: { secretName: 'certs' } }),
  );

const volumesArb: fc.Arbitrary<Volume[] | undefined> = fc.oneof(
  fc.constant<Volume[] | undefined>(undefined),
  fc.subarray([...VOLUME_NAMES]).chain((names): fc.Arbitrary<Volume[] | undefined> => (names.length === 0 ? fc.constant([]) : fc.tuple(...names.map(volumeArb)))),
);

const selectorFields = fc.record({ name: fc.constantFrom(...OBJECT_NAMES), optional: fc.boolean() }, { requiredKeys: ['name'], noNullPrototype: true });

const envVarArb = (flavour: Flavour): fc.Arbitrary<EnvVar> => fc.constantFrom('A', 'B', 'DB_URL', 'TOKEN', 'my.key-1').chain((name) =>
  fc.oneof(
    { arbitrary: valueArb(flavour).map((value): EnvVar => ({ name, value })), weight: 4 },
    { arbitrary: fc.constant<EnvVar>({ name, value: '' }), weight: 1 },
    { arbitrary: fc.constant<EnvVar>({ name, valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }), weight: 1 },
    ...(['secretKeyRef', 'configMapKeyRef'] as const).map((ref) => ({
      arbitrary: fc.tuple(selectorFields, fc.oneof({ arbitrary: fc.constantFrom<string>(...KEYS), weight: 12 }, { arbitrary: fc.constant('MISSING'), weight: 1 })).map(([selector, key]): EnvVar => {
        const keySelector: { name: string; key: string; optional?: boolean } = { name: selector.name, key };
        if (selector.optional !== undefined) keySelector.optional = selector.optional;
        return { name, valueFrom: { [ref]: keySelector } };
      }),
      weight: 2,
    })),
  ),
);

/**
 * Values that the kubelet's expansion of an earlier variable makes a reference, with the
 * value of that variable that does: `arn:$(A):secretsmanager:…` with A=aws.
 */
const ASSEMBLED: Record<Flavour, ReadonlyArray<{ variable: string; piece: string; template: string }>> = {
  aws: [
    { variable: 'A', piece: 'aws', template: `arn:$(A):${AWS_REFS[0].slice('arn:aws:'.length)}` },
    { variable: 'TOKEN', piece: 'parameter/app/token', template: 'arn:aws:ssm:us-east-1:123456789012:$(TOKEN)' },
  ],
  google: [{ variable: 'B', piece: `secretmanager:${GOOGLE_REFS[0].slice('gcp:secretmanager:'.length)}`, template: 'gcp:$(B)' }],
  both: [],
};
ASSEMBLED.both = [...ASSEMBLED.aws, ...ASSEMBLED.google];

/**
 * Env entries where one value expands another into a reference, or nearly: the variable
 * defined before with the piece that makes it one, or another value, or from an object
 * (whose value the webhook does not know), or defined only after it.
 */
const assembledEnvArb = (flavour: Flavour): fc.Arbitrary<EnvVar[]> =>
  fc
    .record({
      assembled: fc.constantFrom(...ASSEMBLED[flavour]),
      piece: fc.oneof(
        { arbitrary: fc.constant<'piece'>('piece'), weight: 4 },
        { arbitrary: plainArb, weight: 1 },
        { arbitrary: fc.constant<'object'>('object'), weight: 1 },
      ),
      after: fc.oneof({ arbitrary: fc.constant(false), weight: 4 }, { arbitrary: fc.constant(true), weight: 1 }),
      name: fc.constantFrom('A', 'B', 'DB_URL', 'TOKEN', 'my.key-1'),
    }, { noNullPrototype: true })
    .map(({ assembled, piece, after, name }) => {
      const definition: EnvVar =
        piece === 'object'
          ? { name: assembled.variable, valueFrom: { configMapKeyRef: { name: 'o0', key: 'K0', optional: true } } }
          : { name: assembled.variable, value: piece === 'piece' ? assembled.piece : piece };
      const use: EnvVar = { name, value: assembled.template };
      return after ? [use, definition] : [definition, use];
    });

const envFromArb: fc.Arbitrary<EnvFromSource> = fc
  .tuple(fc.constantFrom('secretRef', 'configMapRef'), selectorFields, fc.option(fc.constantFrom('APP_', 'X_'), { nil: undefined }))
  .map(([ref, selector, prefix]) => {
    const source: EnvFromSource = { [ref]: selector };
    if (prefix !== undefined) source.prefix = prefix;
    return source;
  });

/** Words secrets-init takes for its own subcommands when they come first after its options. */
const SUBCOMMAND_WORDS: readonly string[] = ['copy', 'cp', 'help', 'h'];
const WORDS = ['/bin/app', 'serve', '--verbose', '-c', 'x y', 'cp', ...DOLLAR_VALUES] as const;
const wordsArb = fc.option(fc.array(fc.constantFrom<string>(...WORDS), { maxLength: 3 }), { nil: undefined });
/** A container command: sometimes an Argo step, or the bare executor line. */
const commandArb = fc.oneof(
  { arbitrary: wordsArb, weight: 6 },
  { arbitrary: fc.array(fc.constantFrom<string>(...WORDS), { maxLength: 2 }).map((words) => [...ARGO, ...words]), weight: 1 },
);
/** An exec handler: a liveness probe or a preStop hook, with a command that may use variables. */
const HANDLER_PATHS = { probe: ['livenessProbe', 'exec', 'command'], hook: ['lifecycle', 'preStop', 'exec', 'command'] } as const;
type HandlerKind = keyof typeof HANDLER_PATHS;
const handlerArb = fc.option(
  fc.record({
    kind: fc.constantFrom<HandlerKind>('probe', 'hook'),
    command: fc.array(fc.constantFrom<string>('check', '$A', '${TOKEN}', '$(DB_URL)', '$$'), { minLength: 1, maxLength: 2 }),
  }, { noNullPrototype: true }),
  { nil: undefined },
);

/** The command of a handler, if the container has it. */
function handlerCommand(container: Container, kind: HandlerKind): string[] | undefined {
  let value: unknown = container;
  for (const key of HANDLER_PATHS[kind]) value = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
  return Array.isArray(value) ? (value as string[]) : undefined;
}

function containerArb(name: string, volumes: readonly Volume[], caseFlavour: CaseFlavour = 'any', init = false): fc.Arbitrary<Container> {
  const mountsArb: fc.Arbitrary<VolumeMount[] | undefined> =
    volumes.length === 0
      ? fc.constant(undefined)
      : fc.option(
          fc.uniqueArray(
            fc.record({ name: fc.constantFrom(...volumes.map((v) => v.name)), mountPath: fc.constantFrom(...MOUNT_PATHS) }, { noNullPrototype: true }),
            { selector: (m) => m.mountPath, maxLength: 2 },
          ),
          { nil: undefined },
        );
  return itemFlavourArb(caseFlavour).chain((flavour) => fc
    .record({
      env: fc.option(
        fc.oneof(
          { arbitrary: fc.array(envVarArb(flavour), { maxLength: 3 }), weight: 4 },
          { arbitrary: fc.tuple(fc.array(envVarArb(flavour), { maxLength: 1 }), assembledEnvArb(flavour)).map(([before, pair]) => [...before, ...pair]), weight: 1 },
        ),
        { nil: undefined },
      ),
      envFrom: fc.option(fc.array(envFromArb, { maxLength: 2 }), { nil: undefined }),
      command: commandArb,
      args: wordsArb,
      volumeMounts: mountsArb,
      stdin: fc.option(fc.boolean(), { nil: undefined }),
      tty: fc.option(fc.boolean(), { nil: undefined }),
      // Native sidecars: init containers that keep running.
      restartPolicy: init ? fc.option(fc.constant('Always'), { nil: undefined }) : fc.constant(undefined),
      handler: handlerArb,
    }, { noNullPrototype: true })
    .map(({ handler, ...fields }) => {
      const built: Container = { name, image: `registry.example.com/team/${name}:1.0` };
      for (const [key, value] of Object.entries(fields)) if (value !== undefined) built[key] = value;
      // Ordinary init containers may have neither probes nor hooks.
      if (handler !== undefined && !(init && fields.restartPolicy === undefined)) {
        if (handler.kind === 'probe') built['livenessProbe'] = { exec: { command: handler.command }, periodSeconds: 5 };
        else built['lifecycle'] = { preStop: { exec: { command: handler.command } } };
      }
      return built;
    }));
}

// Names never contain "-", so they cannot clash with copy-secrets-init or the late-added container.
const containerNameArb = fc.stringMatching(/^[a-z][a-z0-9]{0,6}$/);

const imageConfigArb: fc.Arbitrary<ImageConfig | undefined> = fc.oneof(
  { arbitrary: fc.constant(undefined), weight: 1 },
  {
    arbitrary: fc.record({
      entrypoint: fc.oneof(
        fc.array(fc.constantFrom('/entrypoint.sh', '/usr/bin/tini', '--', 'run $HOME', '$(A)', '$$'), { maxLength: 2 }),
        fc.constant(TINI),
        // A Dockerfile's `ENTRYPOINT [""]`: no entrypoint at all.
        fc.constant<string[]>(['']),
      ),
      cmd: fc.array(fc.constantFrom('run', '--port=80', 'server', '$(TOKEN)', '$$', '5$', '$(my.key-1)'), { maxLength: 2 }),
    }, { noNullPrototype: true }),
    weight: 6,
  },
);

/** An option annotation: mostly absent, else mostly valid, seldom malformed (which denies). */
const optionAnnotationArb = (valid: string[], malformed: string) => fc.oneof(
  { arbitrary: fc.constant(undefined), weight: 6 },
  { arbitrary: fc.constantFrom(...valid), weight: 3 },
  { arbitrary: fc.constant(malformed), weight: 1 },
);

const annotationsArb: fc.Arbitrary<Record<string, string> | undefined> = fc.oneof(
  { arbitrary: fc.constant(undefined), weight: 3 },
  {
    arbitrary: fc
      .record({
        provider: fc.oneof({ arbitrary: fc.constant(undefined), weight: 5 }, { arbitrary: fc.constantFrom('aws', 'google', 'azure'), weight: 2 }),
        inject: fc.oneof({ arbitrary: fc.constant(undefined), weight: 6 }, { arbitrary: fc.constantFrom('false', 'False', 'true'), weight: 1 }),
        'exit-early': optionAnnotationArb(['true', 'False'], 'soon'),
        'log-format': optionAnnotationArb(['json', 'text'], 'xml'),
        'wrap-exec': optionAnnotationArb(['true', 'TRUE', 'false'], 'maybe'),
        other: fc.boolean(),
      }, { noNullPrototype: true })
      .map(({ other, ...ours }) => {
        const annotations: Record<string, string> = {};
        if (other) annotations['example.com/owner'] = 'team-a';
        for (const [key, value] of Object.entries(ours)) if (value !== undefined) annotations[`secrets-init/${key}`] = value;
        return annotations;
      }),
    weight: 4,
  },
);

interface Case {
  pod: Pod;
  universe: Universe;
  imageConfigs: Record<string, ImageConfig>;
}

const caseArb: fc.Arbitrary<Case> = caseFlavourArb.chain((flavour) => fc
  .record({
    containerCount: fc.integer({ min: 1, max: 4 }),
    initCount: fc.integer({ min: 0, max: 3 }),
    volumes: volumesArb,
    annotations: annotationsArb,
    metadata: fc.oneof({ arbitrary: fc.constant(true), weight: 9 }, { arbitrary: fc.constant(false), weight: 1 }),
    os: fc.oneof({ arbitrary: fc.constant(undefined), weight: 12 }, { arbitrary: fc.constantFrom('linux', 'windows'), weight: 1 }),
    universe: universeArb(flavour),
  }, { noNullPrototype: true })
  .chain((base) =>
    fc.uniqueArray(containerNameArb, { minLength: base.containerCount + base.initCount, maxLength: base.containerCount + base.initCount }).chain((names) =>
      fc
        .record({
          initContainers: fc.tuple(...names.slice(0, base.initCount).map((n) => containerArb(n, base.volumes ?? [], flavour, true))),
          containers: fc.tuple(...names.slice(base.initCount).map((n) => containerArb(n, base.volumes ?? [], flavour))),
          configs: fc.tuple(...names.map(() => imageConfigArb)),
          emptyInit: fc.boolean(),
        }, { noNullPrototype: true })
        .map(({ initContainers, containers, configs, emptyInit }): Case => {
          const spec: Pod['spec'] = { containers };
          if (initContainers.length > 0 || emptyInit) spec.initContainers = initContainers;
          if (base.volumes !== undefined) spec.volumes = base.volumes;
          if (base.os !== undefined) spec['os'] = { name: base.os };
          const pod: Pod = { apiVersion: 'v1', kind: 'Pod', spec };
          if (base.metadata) {
            pod.metadata = { generateName: 'app-', namespace: NAMESPACE };
            if (base.annotations !== undefined) pod.metadata.annotations = base.annotations;
          }
          const imageConfigs: Record<string, ImageConfig> = {};
          names.forEach((n, i) => {
            const config = configs[i];
            if (config !== undefined) imageConfigs[n] = config;
          });
          return { pod, universe: base.universe, imageConfigs };
        }),
    ),
  ));

function resolvedFacts(c: Case, extraConfigs: Record<string, ImageConfig> = {}): ResolvedFacts {
  const entries = Object.entries(c.universe).map(([key, data]) => {
    const [kind, name] = key.split('/') as [EnvObjectKind, string];
    return [{ kind, name }, data] as [{ kind: EnvObjectKind; name: string }, Record<string, string> | undefined];
  });
  return { namespace: NAMESPACE, objects: objects(entries), imageConfigs: new Map(Object.entries({ ...c.imageConfigs, ...extraConfigs })) };
}

// ---------------------------------------------------------------- the model

const given = (list: string[] | undefined): list is string[] => list !== undefined && list.length > 0;

interface ContainerModel {
  container: Container;
  providers: Set<Provider>;
  /** A required object or key is missing. */
  broken: boolean;
  /** A value is a reference only once the kubelet has expanded it. */
  assembled: boolean;
}

/** What the webhook is not given of a value (from a Secret, a ConfigMap or a field reference): no reference is made of it. */
const OPAQUE = '\u27e8opaque\u27e9';

/**
 * The kubelet's environment: envFrom entries, then env entries, a later definition of a
 * name replacing an earlier one. A value holds a reference when its expansion (`$(NAME)`
 * of the variables defined before it) is one, the values of objects and field
 * references taken as opaque; or when it expands `$(NAME)` of a variable that holds a
 * reference.
 */
function modelContainer(container: Container, universe: Universe): ContainerModel {
  const model: ContainerModel = { container, providers: new Set(), broken: false, assembled: false };
  /** Each variable's provider, and its value as the kubelet expands it (undefined: opaque). */
  const environment = new Map<string, { provider: Provider | undefined; value?: string }>();
  for (const from of container.envFrom ?? []) {
    const [kind, selector] = from.secretRef ? (['Secret', from.secretRef] as const) : (['ConfigMap', from.configMapRef!] as const);
    const data = universe[universeKey(kind, selector.name!)];
    if (data === undefined) {
      if (selector.optional !== true) model.broken = true;
      continue;
    }
    for (const [key, value] of Object.entries(data)) environment.set(`${from.prefix ?? ''}${key}`, { provider: modelProvider(value) });
  }
  for (const variable of container.env ?? []) {
    const secret = variable.valueFrom?.secretKeyRef;
    const selector = secret ?? variable.valueFrom?.configMapKeyRef;
    if (selector === undefined) {
      if (variable.valueFrom !== undefined && (variable.value ?? '') === '') {
        environment.set(variable.name, { provider: undefined });
        continue;
      }
      const value = variable.value ?? '';
      // The first variable holding a reference that the kubelet expands into this value.
      let held: Provider | undefined;
      const expanded = kubeletExpand(value, (name) => {
        const defined = environment.get(name);
        held ??= defined?.provider;
        return defined === undefined ? undefined : (defined.value ?? OPAQUE);
      });
      const provider = modelProvider(expanded);
      if (provider !== undefined && modelProvider(value) === undefined) model.assembled = true;
      environment.set(variable.name, { provider: provider ?? held, value: expanded });
      continue;
    }
    const data = universe[universeKey(secret ? 'Secret' : 'ConfigMap', selector.name!)];
    if (data === undefined || !(selector.key in data)) {
      if (selector.optional !== true) model.broken = true;
      continue;
    }
    environment.set(variable.name, { provider: modelProvider(data[selector.key]!) });
  }
  for (const { provider } of environment.values()) if (provider) model.providers.add(provider);
  return model;
}

interface PodModel {
  optedOut: boolean;
  /** The provider annotation, when valid. */
  requested?: Provider;
  /** The pod's secrets-init options, from the annotations over the server's. */
  exitEarly: boolean;
  logFormat?: string;
  wrapExec: boolean;
  denied: boolean;
  /** Containers holding references, by name. */
  holders: Map<string, ContainerModel>;
  /** Holders whose command must come from the image. */
  needImage: string[];
}

function modelPod(c: Case): PodModel {
  const annotations = c.pod.metadata?.annotations ?? {};
  const holders = new Map<string, ContainerModel>();
  const model: PodModel = { optedOut: false, exitEarly: false, wrapExec: false, denied: false, holders, needImage: [] };
  if (annotations['secrets-init/inject']?.toLowerCase() === 'false') {
    model.optedOut = true;
    return model;
  }
  const annotated = annotations['secrets-init/provider'];
  const requested = annotated === 'aws' || annotated === 'google' ? annotated : undefined;
  if (requested !== undefined) model.requested = requested;
  let badAnnotation = annotated !== undefined && requested === undefined;
  const exitEarly = annotations['secrets-init/exit-early']?.toLowerCase();
  if (exitEarly !== undefined && exitEarly !== 'true' && exitEarly !== 'false') badAnnotation = true;
  model.exitEarly = exitEarly === 'true';
  const logFormat = annotations['secrets-init/log-format'];
  if (logFormat !== undefined && logFormat !== 'text' && logFormat !== 'json') badAnnotation = true;
  else if (logFormat !== undefined) model.logFormat = logFormat;
  const wrapExec = annotations['secrets-init/wrap-exec']?.toLowerCase();
  if (wrapExec !== undefined && wrapExec !== 'true' && wrapExec !== 'false') badAnnotation = true;
  model.wrapExec = wrapExec === 'true';
  const all = [...(c.pod.spec.initContainers ?? []), ...c.pod.spec.containers].map((container) => modelContainer(container, c.universe));
  for (const m of all) {
    if (m.broken) model.denied = true;
    if (m.providers.size === 0) continue;
    holders.set(m.container.name, m);
    if (m.providers.size > 1 && requested === undefined) model.denied = true;
    if (!given(m.container.command)) model.needImage.push(m.container.name);
    // Unknown (no image config), empty, or a supervisor with nothing after it: nothing to hand to secrets-init.
    const line = processLine(m.container, c.imageConfigs[m.container.name]);
    if (line === undefined || line.length === 0 || line.length === supervisorOf(line).length) model.denied = true;
    // secrets-init would run its own subcommand instead of the program.
    else if (startsWithSubcommand(line)) model.denied = true;
    const atPath = (m.container.volumeMounts ?? []).find((mount) => mount.mountPath === SETTINGS.volumePath);
    if (atPath !== undefined && atPath.name !== SETTINGS.volumeName) model.denied = true;
  }
  // A mistyped annotation, or a Windows pod, is denied only when it needs injection.
  if (badAnnotation && holders.size > 0) model.denied = true;
  if ((c.pod.spec['os'] as { name?: string } | undefined)?.name === 'windows' && holders.size > 0) model.denied = true;
  const ours = (c.pod.spec.volumes ?? []).find((v) => v.name === SETTINGS.volumeName);
  if (holders.size > 0 && ours !== undefined && ours.emptyDir === undefined) model.denied = true;
  return model;
}

/**
 * The process the kubelet starts for a container, by Kubernetes' rule for what runs
 * (command+args; command; image ENTRYPOINT + args; ENTRYPOINT + CMD; an ENTRYPOINT of
 * exactly [""] is none), the container's own words expanded and the image's taken as
 * they are. Undefined when the image config is needed and unknown.
 */
function processLine(container: Container, image: ImageConfig | undefined): string[] | undefined {
  if (given(container.command)) return expandWords([...container.command, ...(container.args ?? [])]);
  if (image === undefined) return undefined;
  // Container runtimes read an ENTRYPOINT of exactly one empty word as none.
  const entrypoint = image.entrypoint.length === 1 && image.entrypoint[0] === '' ? [] : image.entrypoint;
  return [...entrypoint, ...(given(container.args) ? expandWords(container.args) : image.cmd)];
}

/** The supervisor a process line starts with, as the model knows them; empty when none. */
function supervisorOf(line: readonly string[]): readonly string[] {
  return [ARGO, TINI].find((prefix) => prefix.length <= line.length && prefix.every((word, i) => line[i] === word)) ?? [];
}

/** Whether the words secrets-init is given (after the supervisor, if any) start with one of its subcommands. */
function startsWithSubcommand(line: readonly string[]): boolean {
  return SUBCOMMAND_WORDS.includes(line[supervisorOf(line).length] ?? '');
}

/** The options secrets-init gets, in the documented order, for a container of this provider. */
function expectedOptions(model: PodModel, provider: Provider, terminal: boolean): string[] {
  const options = [`--provider=${provider}`];
  if (model.exitEarly) options.push('--exit-early');
  if (provider === 'google') options.push(`--google-project=${SERVER_PROJECT}`);
  if (model.logFormat !== undefined) options.push(`--log-format=${model.logFormat}`);
  if (terminal) options.push('--interactive');
  return options;
}

/** The process the kubelet starts for a wrapped container: secrets-init, under the supervisor if any, then the line. */
function expectedWrappedLine(model: PodModel, provider: Provider, container: Container, image: ImageConfig | undefined): string[] {
  const line = processLine(container, image)!;
  const supervisor = supervisorOf(line);
  // secrets-init hands stdin on only from a terminal: both stdin and tty.
  const terminal = container['stdin'] === true && container['tty'] === true;
  return [...supervisor, WRAPPER, ...expectedOptions(model, provider, terminal), ...line.slice(supervisor.length)];
}

/** What the kubelet runs for a container after the patch: its `command` and `args`, expanded. */
function runsAfter(container: Container): string[] {
  return expandWords([...(container.command ?? []), ...(container.args ?? [])]);
}

// ---------------------------------------------------------------- checks

function allContainers(pod: Pod): Container[] {
  return [...(pod.spec.initContainers ?? []), ...pod.spec.containers];
}

function byName(pod: Pod, name: string): Container {
  const found = allContainers(pod).find((c) => c.name === name);
  assert.ok(found, `container ${name} exists`);
  return found;
}

/** Structural invariants the API server would enforce, and that injection must keep. */
function checkPodInvariants(pod: Pod, label: string): void {
  validatePod(pod);
  const containerNames = allContainers(pod).map((c) => c.name);
  assert.equal(new Set(containerNames).size, containerNames.length, `${label}: duplicate container names ${containerNames.join(',')}`);
  const volumeNames = (pod.spec.volumes ?? []).map((v) => v.name);
  assert.equal(new Set(volumeNames).size, volumeNames.length, `${label}: duplicate volume names ${volumeNames.join(',')}`);
  for (const container of allContainers(pod)) {
    const mounts = container.volumeMounts ?? [];
    for (const mount of mounts) assert.ok(volumeNames.includes(mount.name), `${label}: ${container.name} mounts missing volume ${mount.name}`);
    const paths = mounts.map((m) => m.mountPath);
    assert.equal(new Set(paths).size, paths.length, `${label}: ${container.name} mounts twice at one path`);
  }
}

function mutationOf(outcome: MutationOutcome) {
  return outcome.allowed ? outcome.mutation : undefined;
}

interface Run {
  model: PodModel;
  outcome: MutationOutcome;
  ops?: Operation[];
  result?: Pod;
}

/** (f): everything the webhook calls returns; nothing throws. */
function run(c: Case): Run {
  checkPodInvariants(c.pod, 'input');
  const frozen = deepClone(c.pod) as Pod;
  const model = modelPod(c);
  const facts = resolvedFacts(c);
  imageConfigsNeeded(planPod(c.pod, facts, SETTINGS));
  // The admission's quick test never skips the reads of a pod that reads objects.
  if (mayReadObjects(c.pod)) stats.mayRead++;
  else assert.equal(referencedObjects(c.pod, SETTINGS).length, 0, 'mayReadObjects says no only for pods that read no object');
  const outcome = computePodMutation(c.pod, facts, SETTINGS);
  assert.deepEqual(c.pod, frozen, 'the input pod is not modified');
  // The admission's shortcut for plain pods never skips a change, a warning or a denial.
  if (leftAsIs(c.pod, SETTINGS)) {
    assert.deepEqual(outcome, { allowed: true, warnings: [] }, 'leftAsIs says yes only for pods the plan leaves as they are, without a warning');
  }
  const mutation = mutationOf(outcome);
  if (mutation === undefined) return { model, outcome };
  const ops = toJsonPatch(c.pod, mutation);
  assert.deepEqual(c.pod, frozen, 'toJsonPatch does not modify the pod');
  assert.equal(patchJson(ops), JSON.stringify(ops), 'patchJson writes the text JSON.stringify writes');
  // (a): applies with validation on; applyOps throws otherwise.
  return { model, outcome, ops, result: applyOps(c.pod, ops) };
}

const stats = { mayRead: 0, denied: 0, allowedNoMutation: 0, mutated: 0, optedOut: 0, reinvokedMutated: 0, supervised: 0, handlersWrapped: 0, assembled: 0 };

t.test('(f) outcomes match the model; nothing throws', async (t) => {
  fc.assert(
    fc.property(caseArb, (c) => {
      const { model, outcome } = run(c);
      if (model.optedOut) stats.optedOut++;
      if ([...model.holders.values()].some((holder) => holder.assembled)) stats.assembled++;
      if (!outcome.allowed) {
        stats.denied++;
        assert.ok(outcome.reason.length > 0, 'a denial says why');
      } else if (outcome.mutation === undefined) stats.allowedNoMutation++;
      else stats.mutated++;
      assert.equal(!outcome.allowed, model.denied, `denied ${!outcome.allowed ? `(${outcome.reason})` : ''} as the model predicts`);
      if (outcome.allowed) {
        assert.equal(outcome.mutation !== undefined, model.holders.size > 0, 'mutated exactly when some container holds a reference');
        assert.deepEqual(
          imageConfigsNeeded(planPod(c.pod, resolvedFacts(c), SETTINGS)).map((need) => need.container).sort(),
          [...model.needImage].sort(),
          'image configs are asked for exactly the containers to wrap that have no command',
        );
      }
    }),
    { numRuns: NUM_RUNS },
  );
  // The generator must reach every kind of outcome, or the other properties prove little.
  t.ok(stats.mutated >= NUM_RUNS / 10, `mutated in ${stats.mutated} of ${NUM_RUNS} runs`);
  t.ok(stats.denied >= NUM_RUNS / 20, `denied in ${stats.denied} runs`);
  t.ok(stats.allowedNoMutation >= NUM_RUNS / 40, `allowed without mutation in ${stats.allowedNoMutation} runs`);
  t.ok(stats.optedOut >= 1, `opted out in ${stats.optedOut} runs`);
  t.ok(stats.assembled >= NUM_RUNS / 40, `a reference made by the kubelet's expansion in ${stats.assembled} runs`);
  t.ok(stats.mayRead > NUM_RUNS / 10 && stats.mayRead < NUM_RUNS, `mayReadObjects said yes in ${stats.mayRead} runs, no in the others`);
});

t.test('(a)(b) the patch applies and the resulting pod is valid', async (t) => {
  let checked = 0;
  fc.assert(
    fc.property(caseArb, (c) => {
      const { result } = run(c);
      if (result === undefined) return;
      checked++;
      checkPodInvariants(result, 'result');
      const inits = result.spec.initContainers ?? [];
      assert.equal(inits[0]?.name, 'copy-secrets-init', 'ours comes first');
      assert.equal(inits.filter((i) => i.name === 'copy-secrets-init').length, 1);
      assert.deepEqual(inits.slice(1).map((i) => i.name), (c.pod.spec.initContainers ?? []).map((i) => i.name), 'init containers keep their order');
      assert.deepEqual(result.spec.containers.map((i) => i.name), c.pod.spec.containers.map((i) => i.name), 'containers keep their order');
      const ours = (result.spec.volumes ?? []).find((v) => v.name === SETTINGS.volumeName);
      assert.ok(ours?.emptyDir !== undefined, 'our volume is an emptyDir');
      for (const volume of c.pod.spec.volumes ?? []) assert.ok(result.spec.volumes?.some((v) => v.name === volume.name), `volume ${volume.name} kept`);
      for (const [key, value] of Object.entries(c.pod.metadata?.annotations ?? {})) {
        if (key !== 'secrets-init/status') assert.equal(result.metadata?.annotations?.[key], value, `annotation ${key} kept`);
      }
    }),
    { numRuns: NUM_RUNS },
  );
  t.ok(checked > 0, `${checked} mutated pods checked`);
});

t.test('(c) idempotent: the resulting pod needs no mutation', async (t) => {
  let checked = 0;
  fc.assert(
    fc.property(caseArb, (c) => {
      const { result } = run(c);
      if (result === undefined) return;
      checked++;
      const again = computePodMutation(result, resolvedFacts(c), SETTINGS);
      assert.ok(again.allowed, `allowed again${again.allowed ? '' : `: ${again.reason}`}`);
      assert.equal(again.mutation, undefined, 'no second mutation');
      assert.deepEqual(imageConfigsNeeded(planPod(result, resolvedFacts(c), SETTINGS)), []);
    }),
    { numRuns: NUM_RUNS },
  );
  t.ok(checked > 0, `${checked} mutated pods checked`);
});

t.test('(d)(e) only containers holding references change, and they run secrets-init with their provider', async (t) => {
  let wrapped = 0;
  fc.assert(
    fc.property(caseArb, (c) => {
      const { result, model } = run(c);
      if (result === undefined) return;
      for (const before of allContainers(c.pod)) {
        const after = byName(result, before.name);
        const holder = model.holders.get(before.name);
        if (holder === undefined) {
          assert.deepEqual(after, before, `${before.name} holds no reference and is untouched`);
          continue;
        }
        wrapped++;
        const provider = model.requested ?? [...holder.providers][0]!;
        assert.ok(model.requested !== undefined || holder.providers.size === 1);
        const expected = expectedWrappedLine(model, provider, before, c.imageConfigs[before.name]);
        assert.deepEqual(runsAfter(after), expected, `${before.name}: the kubelet starts secrets-init with its provider and options, then what ran before`);
        assert.equal(after.command?.at(-1), WRAPPER, `${before.name}: command ends with the wrapper, args hold the rest`);
        if (supervisorOf(expected).length > 0) stats.supervised++;
        for (const kind of ['probe', 'hook'] as const) {
          const handlerBefore = handlerCommand(before, kind);
          if (handlerBefore === undefined) continue;
          const handlerExpected = model.wrapExec ? [WRAPPER, ...expectedOptions(model, provider, false), ...handlerBefore] : handlerBefore;
          assert.deepEqual(handlerCommand(after, kind), handlerExpected, `${before.name}: ${kind} ${model.wrapExec ? 'wrapped' : 'left as it is'}`);
          if (model.wrapExec) stats.handlersWrapped++;
        }
        assert.equal((after.volumeMounts ?? []).filter((m) => m.mountPath === SETTINGS.volumePath && m.name === SETTINGS.volumeName).length, 1);
        assert.deepEqual((after.volumeMounts ?? []).filter((m) => m.mountPath !== SETTINGS.volumePath), (before.volumeMounts ?? []).filter((m) => m.mountPath !== SETTINGS.volumePath));
        const { command: _c, args: _a, volumeMounts: _v, livenessProbe: _l, lifecycle: _h, ...restAfter } = after;
        const { command: _c2, args: _a2, volumeMounts: _v2, livenessProbe: _l2, lifecycle: _h2, ...restBefore } = before;
        assert.deepEqual(restAfter, restBefore, `${before.name}: only command, args, mounts and exec handlers change (restartPolicy, stdin… stay)`);
      }
      const status = JSON.parse(result.metadata?.annotations?.['secrets-init/status'] ?? 'null') as { containers: string[]; initContainers: string[] };
      assert.deepEqual(
        { containers: status.containers, initContainers: status.initContainers },
        {
          containers: c.pod.spec.containers.filter((x) => model.holders.has(x.name)).map((x) => x.name),
          initContainers: (c.pod.spec.initContainers ?? []).filter((x) => model.holders.has(x.name)).map((x) => x.name),
        },
        'the status annotation lists the injected containers',
      );
    }),
    // Twice the runs: wrapped exec handlers need a valid wrap-exec annotation and a probe or
    // hook on a container that is wrapped; at 200 runs about one run in twenty saw none.
    { numRuns: NUM_RUNS * 2 },
  );
  t.ok(wrapped > 0, `${wrapped} wrapped containers checked`);
  t.ok(stats.supervised > 0, `${stats.supervised} of them under a supervisor`);
  t.ok(stats.handlersWrapped > 0, `${stats.handlersWrapped} exec handlers wrapped`);
});

t.test('reinvocation: a container added after injection is wrapped without a second init container or volume', async (t) => {
  const LATE = 'late-added';
  let moved = 0;
  fc.assert(
    fc.property(
      caseArb,
      // Another webhook appends a container, appends an init container, or puts one first.
      fc.constantFrom('container', 'init-last', 'init-first'),
      containerArb(LATE, VOLUME_NAMES.map((name) => ({ name }))),
      imageConfigArb,
      (c, placement, lateRaw, lateConfig) => {
        const { result } = run(c);
        if (result === undefined) return;
        // The late container may only mount volumes this pod has.
        const volumeNames = (result.spec.volumes ?? []).map((v) => v.name);
        const late: Container = { ...lateRaw };
        const mounts = (late.volumeMounts ?? []).filter((m) => volumeNames.includes(m.name));
        if (mounts.length > 0) late.volumeMounts = mounts;
        else delete late.volumeMounts;
        const reinvoked = deepClone(result) as Pod;
        const inits = reinvoked.spec.initContainers ?? [];
        if (placement === 'init-last') reinvoked.spec.initContainers = [...inits, late];
        else if (placement === 'init-first') reinvoked.spec.initContainers = [late, ...inits];
        else reinvoked.spec.containers.push(late);
        const lateIndex = placement === 'init-first' ? 0 : inits.length;
        const extra: Record<string, ImageConfig> = lateConfig === undefined ? {} : { [LATE]: lateConfig };
        const reCase: Case = { pod: reinvoked, universe: c.universe, imageConfigs: { ...c.imageConfigs, ...extra } };
        const lateModel = modelContainer(late, c.universe);
        const outcome = computePodMutation(reinvoked, resolvedFacts(c, extra), SETTINGS);
        const mutation = mutationOf(outcome);
        if (!outcome.allowed) {
          const requested = c.pod.metadata?.annotations?.['secrets-init/provider'];
          const line = processLine(late, lateConfig) ?? [];
          const atPath = (late.volumeMounts ?? []).find((m) => m.mountPath === SETTINGS.volumePath);
          assert.ok(
            lateModel.broken ||
              (lateModel.providers.size > 1 && requested === undefined) ||
              (lateModel.providers.size > 0 && line.length === supervisorOf(line).length) ||
              (lateModel.providers.size > 0 && startsWithSubcommand(line)) ||
              (lateModel.providers.size > 0 && atPath !== undefined && atPath.name !== SETTINGS.volumeName),
            `denied only because of the late container: ${outcome.reason}`,
          );
          return;
        }
        assert.equal(mutation !== undefined, lateModel.providers.size > 0, 'mutated exactly when the late container holds references');
        if (mutation === undefined) return;
        stats.reinvokedMutated++;
        const ops = toJsonPatch(reinvoked, mutation);
        assert.ok(!ops.some((op) => op.path.startsWith('/spec/volumes')), 'no volume operation');
        const initOps = ops.filter((op) => op.path.startsWith('/spec/initContainers'));
        if (placement === 'container') assert.deepEqual(initOps, [], 'init containers are not touched');
        else assert.ok(initOps.every((op) => op.path.startsWith(`/spec/initContainers/${lateIndex}/`) || op.op === 'move'), 'only the late init container is touched, or ours moved');
        const after = applyOps(reinvoked, ops);
        // Ours runs first, before the late init container; the others keep their order.
        const initNames = (after.spec.initContainers ?? []).map((i) => i.name);
        assert.equal(initNames[0], 'copy-secrets-init');
        assert.deepEqual(initNames.slice(1), (reinvoked.spec.initContainers ?? []).map((i) => i.name).filter((n) => n !== 'copy-secrets-init'));
        if (placement === 'init-first') moved++;
        checkPodInvariants(after, 'reinvoked');
        for (const before of allContainers(result)) assert.deepEqual(byName(after, before.name), before, `${before.name} is not wrapped again`);
        const lateAfter = byName(after, LATE);
        const lateProvider = modelPod(c).requested ?? [...lateModel.providers][0]!;
        assert.deepEqual(runsAfter(lateAfter), expectedWrappedLine(modelPod(reCase), lateProvider, late, lateConfig));
        assert.ok((lateAfter.volumeMounts ?? []).some((m) => m.name === OUR_MOUNT.name && m.mountPath === OUR_MOUNT.mountPath));
        const statusBefore = JSON.parse(result.metadata?.annotations?.['secrets-init/status'] ?? 'null') as Record<string, string[]>;
        const statusAfter = JSON.parse(after.metadata?.annotations?.['secrets-init/status'] ?? 'null') as Record<string, string[]>;
        const expectedStatus =
          placement === 'container'
            ? { ...statusBefore, containers: [...(statusBefore['containers'] ?? []), LATE] }
            : { ...statusBefore, initContainers: placement === 'init-first' ? [LATE, ...(statusBefore['initContainers'] ?? [])] : [...(statusBefore['initContainers'] ?? []), LATE] };
        assert.deepEqual(statusAfter, expectedStatus, 'the status keeps the earlier containers and adds the late one');
        const again = computePodMutation(after, resolvedFacts(reCase), SETTINGS);
        assert.ok(again.allowed && again.mutation === undefined, 'idempotent after reinvocation');
      },
    ),
    { numRuns: NUM_RUNS },
  );
  t.ok(stats.reinvokedMutated > 0, `${stats.reinvokedMutated} reinvocations wrapped the late container`);
  t.ok(moved > 0, `${moved} of them put it before ours`);
});
