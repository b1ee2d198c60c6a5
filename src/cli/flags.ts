/**
 * The flag tables: every global and per-command flag with its kind, help text and
 * default, plus the defaults and limits the parser checks values against. The single
 * source for parsing (see argv.ts and parse.ts) and help text (program.ts).
 */
import { LOG_FORMATS } from '../core/runtime-options.js';
import { ARGO_EMISSARY } from '../core/supervisor.js';
import { SECRETS_INIT_UID } from '../core/init-container.js';

export type FlagKind = 'string' | 'bool' | 'list';

export interface FlagSpec {
  /** Canonical long name, without dashes. */
  readonly name: string;
  /** One-letter alias, without dash. */
  readonly short?: string;
  readonly kind: FlagKind;
  /** Value placeholder shown in help, e.g. `host:port`. */
  readonly placeholder?: string;
  readonly description: string;
  /** Default as shown in help; omitted means "unset". */
  readonly defaultText?: string;
  readonly env?: string;
  /** Accepted but not shown in help (compatibility aliases). */
  readonly hidden?: boolean;
}

export type CommandName = 'server' | 'certs' | 'inject' | 'audit';
export const COMMAND_NAMES: readonly CommandName[] = ['server', 'certs', 'inject', 'audit'];

export const LOG_LEVELS = ['debug', 'info', 'warning', 'error', 'fatal', 'panic'] as const;
export const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'] as const;

/** Defaults as the strings a user would type; parsed by the same code as user input. */
export const DEFAULTS = {
  logLevel: 'info',
  listenAddress: ':8443',
  image: 'ghcr.io/doitintl/secrets-init:0.5.3',
  pullPolicy: 'IfNotPresent',
  initContainerUser: String(SECRETS_INIT_UID),
  dockerConfigJsonKey: '.dockerconfigjson',
  volumeName: 'secrets-init-bin',
  volumePath: '/helper/bin',
  provider: 'aws',
  lookupTimeout: '2s',
  admissionTimeout: '8s',
  objectCacheTtl: '3s',
  maxObjectsPerPod: '100',
  maxVariablesPerPod: '10000',
  maxConcurrentReads: '8',
  registryTimeout: '3s',
  imageCacheTtl: '5m',
  defaultArchitecture: 'amd64',
  bootstrapSecret: 'secrets-init-webhook-tls',
  webhookConfiguration: 'secrets-init-webhook',
  bootstrapService: 'secrets-init-webhook',
  maxRequestBytes: '2Mi',
  /**
   * Far above what API servers open (one connection per admission in flight; each API server
   * lets ~200 writes run at once), low enough that 1,024 idle TLS connections (~46 MiB) and
   * the request memory fit the Deployment's memory limit beside the webhook itself.
   */
  maxConnections: '1024',
  /** --shutdown-drain inside a Kubernetes pod; outside one there are no Service endpoints to drain. */
  shutdownDrain: '5s',
  shutdownDrainOutsideKubernetes: '0s',
  shutdownTimeout: '10s',
  service: 'secrets-init-webhook',
  namespace: 'secrets-init',
  out: 'certs',
  hosts: ['localhost', '127.0.0.1'] as readonly string[],
  days: '365',
  output: 'yaml',
  auditOutput: 'table',
  pageSize: '500',
} as const;

export const OUTPUT_FORMATS = ['yaml', 'json'] as const;
export const AUDIT_OUTPUT_FORMATS = ['table', 'json'] as const;

export const LOOKUP_TIMEOUT_MAX = '30s';
/** The API server waits at most 30s for a webhook. */
export const ADMISSION_TIMEOUT_MAX = '29s';
export const MAX_REQUEST_BYTES_MIN = '1Ki';
export const MAX_REQUEST_BYTES_MAX = '64Mi';
/** --max-connections' upper bound. */
export const MAX_CONNECTIONS_MAX = 100_000;
/** Upper bounds of --max-objects-per-pod, --max-variables-per-pod and --max-concurrent-reads. */
export const MAX_OBJECTS_PER_POD_MAX = 1_000;
export const MAX_VARIABLES_PER_POD_MAX = 1_000_000;
export const MAX_CONCURRENT_READS_MAX = 100;
export const SHUTDOWN_DRAIN_MAX = '60s';
export const SHUTDOWN_TIMEOUT_MAX = '60s';

export const GLOBAL_FLAGS: readonly FlagSpec[] = [
  {
    name: 'log-level',
    kind: 'string',
    placeholder: 'level',
    description: `log level: ${LOG_LEVELS.join(', ')}`,
    defaultText: DEFAULTS.logLevel,
    env: 'LOG_LEVEL',
  },
  {
    name: 'json',
    kind: 'bool',
    description:
      'write logs as JSON lines; without it and without LOG_JSON=true every event is one text line, time LEVEL message key=value, whether or not stdout is a terminal',
    defaultText: 'false',
    env: 'LOG_JSON',
  },
];

const SERVER_FLAGS: readonly FlagSpec[] = [
  {
    name: 'listen-address',
    kind: 'string',
    placeholder: 'host:port',
    description:
      'address the webhook listens on; empty host = all interfaces, IPv6 in brackets, port 0 = any free port',
    defaultText: DEFAULTS.listenAddress,
  },
  {
    name: 'telemetry-listen-address',
    kind: 'string',
    placeholder: 'host:port',
    description:
      'separate plain-HTTP listener for Prometheus /metrics; when unset, /metrics is served on --listen-address',
  },
  {
    name: 'tls-cert-file',
    kind: 'string',
    placeholder: 'path',
    description:
      'PEM certificate (chain) for HTTPS; needs --tls-private-key-file; when both are unset the server speaks plain HTTP',
  },
  {
    name: 'tls-private-key-file',
    kind: 'string',
    placeholder: 'path',
    description: 'PEM private key for HTTPS; needs --tls-cert-file',
  },
  {
    name: 'client-ca-file',
    kind: 'string',
    placeholder: 'path',
    description:
      'PEM bundle of CAs: POST /pods then needs a client certificate signed by one of them (the API server presents one when its ' +
      'AdmissionConfiguration gives it a kubeConfigFile for the webhook); other callers get 401; probes and /metrics need none. ' +
      'Reloaded like the serving certificate. Needs --tls-cert-file/--tls-private-key-file',
  },
  {
    name: 'image',
    kind: 'string',
    placeholder: 'image',
    description: "image of the injected init container that copies the secrets-init binary into the pod; its tag's release decides which secrets-init options can be used",
    defaultText: DEFAULTS.image,
  },
  {
    name: 'pull-policy',
    kind: 'string',
    placeholder: 'policy',
    description: `imagePullPolicy of the injected init container: ${PULL_POLICIES.join(', ')}`,
    defaultText: DEFAULTS.pullPolicy,
  },
  {
    name: 'registry-skip-verify',
    kind: 'bool',
    description:
      'skip TLS certificate verification when reading image configs (entrypoint/cmd) from container registries',
    defaultText: 'false',
  },
  {
    name: 'docker-config-json-key',
    kind: 'string',
    placeholder: 'key',
    description: 'data key holding the registry credentials in image pull secrets',
    defaultText: DEFAULTS.dockerConfigJsonKey,
  },
  {
    name: 'default-image-pull-secret',
    kind: 'string',
    placeholder: 'name',
    description:
      "image pull secret tried after the pod's and its ServiceAccount's imagePullSecrets, when none of those is accepted by an image's registry (needs --default-image-pull-secret-namespace)",
  },
  {
    name: 'default-image-pull-secret-namespace',
    kind: 'string',
    placeholder: 'namespace',
    description: 'namespace of --default-image-pull-secret',
  },
  // Undocumented underscore spellings that kube-secrets-init also accepts.
  {
    name: 'default_image_pull_secret',
    kind: 'string',
    placeholder: 'name',
    description: 'alias of --default-image-pull-secret',
    hidden: true,
  },
  {
    name: 'default_image_pull_secret_namespace',
    kind: 'string',
    placeholder: 'namespace',
    description: 'alias of --default-image-pull-secret-namespace',
    hidden: true,
  },
  {
    name: 'init-container-user',
    kind: 'string',
    placeholder: 'uid|unset',
    description:
      'runAsUser and runAsGroup of the injected init container (1 to 2147483647), or unset to leave both out so that the image\'s user ' +
      '(1000 in secrets-init 0.5.1 and later) or the platform\'s applies: OpenShift\'s restricted SCCs refuse a uid outside the namespace\'s range. ' +
      'Either way the container has runAsNonRoot; a pod whose securityContext sets runAsUser 0 still gets 1000',
    defaultText: DEFAULTS.initContainerUser,
  },
  {
    name: 'volume-name',
    kind: 'string',
    placeholder: 'name',
    description: 'name of the in-memory emptyDir volume that carries the secrets-init binary (DNS-1123 label)',
    defaultText: DEFAULTS.volumeName,
  },
  {
    name: 'volume-path',
    kind: 'string',
    placeholder: 'path',
    description: 'absolute path where that volume is mounted in every mutated container (no ":" or "$")',
    defaultText: DEFAULTS.volumePath,
  },
  {
    name: 'provider',
    short: 'p',
    kind: 'string',
    placeholder: 'name',
    description:
      'accepted for compatibility with kube-secrets-init (aws or google) and has no effect: every secret reference names its provider ' +
      '(arn:aws… gives aws, gcp:secretmanager: gives google), so each wrapped container gets the provider of its own references; ' +
      'the pod annotation secrets-init/provider overrides that',
    defaultText: DEFAULTS.provider,
  },
  {
    name: 'exit-early',
    kind: 'bool',
    description:
      'pass --exit-early to secrets-init (release 0.4.8 or later): stop the container instead of starting the app when a secret cannot be read; ' +
      'the pod annotation secrets-init/exit-early: "true"|"false" overrides it',
    defaultText: 'false',
  },
  {
    name: 'google-project',
    kind: 'string',
    placeholder: 'id',
    description:
      'pass --google-project=ID to secrets-init (0.4.8 or later) in containers whose provider is google: the project of secrets named without one; ' +
      'the pod annotation secrets-init/google-project overrides it',
  },
  {
    name: 'secrets-init-log-format',
    kind: 'string',
    placeholder: 'format',
    description:
      `pass --log-format to secrets-init (0.4.5 or later): ${LOG_FORMATS.join(' or ')}; the pod annotation secrets-init/log-format overrides it`,
  },
  {
    name: 'supervisor-command',
    kind: 'list',
    placeholder: 'words',
    description:
      'a command that starts the real command as its child, as the words it begins with, ending with "--" (quote them: "/sbin/tini --"); ' +
      'a container whose command line starts with it gets secrets-init after it instead of around it; repeat the flag for more; ' +
      `always known: "${ARGO_EMISSARY.join(' ')}" (Argo Workflows)`,
  },
  {
    name: 'max-objects-per-pod',
    kind: 'string',
    placeholder: 'n',
    description: `most distinct Secrets and ConfigMaps the environment of one pod may read; a pod that reads more is denied; 1 to ${MAX_OBJECTS_PER_POD_MAX}`,
    defaultText: DEFAULTS.maxObjectsPerPod,
  },
  {
    name: 'max-variables-per-pod',
    kind: 'string',
    placeholder: 'n',
    description:
      `most environment variables one pod may define across its containers (env entries, plus every key an envFrom takes from a Secret or ConfigMap); a pod that defines more is denied; 1 to ${MAX_VARIABLES_PER_POD_MAX}`,
    defaultText: DEFAULTS.maxVariablesPerPod,
  },
  {
    name: 'max-concurrent-reads',
    kind: 'string',
    placeholder: 'n',
    description: `most Secrets and ConfigMaps read at once for one admission; the others wait their turn; 1 to ${MAX_CONCURRENT_READS_MAX}`,
    defaultText: DEFAULTS.maxConcurrentReads,
  },
  {
    name: 'object-cache-ttl',
    kind: 'string',
    placeholder: 'duration',
    description:
      'how long what a Secret or ConfigMap holds (which keys hold references; never values) is reused across admissions, ' +
      'so a burst of pods reading the same objects costs one read each; 0 = only reads in flight are shared; at most 5m',
    defaultText: DEFAULTS.objectCacheTtl,
  },
  {
    name: 'admission-timeout',
    kind: 'string',
    placeholder: 'duration',
    description:
      "one deadline for everything an admission waits for (Secret, ConfigMap, ServiceAccount and pull-secret reads, registry and cloud token lookups); " +
      `when it passes the pod is denied, naming what was still pending; keep it below the webhook configuration's timeoutSeconds (10s in the manifests); at most ${ADMISSION_TIMEOUT_MAX}`,
    defaultText: DEFAULTS.admissionTimeout,
  },
  {
    name: 'lookup-timeout',
    kind: 'string',
    placeholder: 'duration',
    description: `timeout of each Kubernetes API lookup (Secrets, ConfigMaps, ServiceAccounts), as a Go duration such as 500ms or 1.5s; at most ${LOOKUP_TIMEOUT_MAX}`,
    defaultText: DEFAULTS.lookupTimeout,
  },
  {
    name: 'self-bootstrap',
    kind: 'bool',
    description: 'make and renew the serving certificate itself: one CA shared by all replicas through the Secret --bootstrap-secret, written into the caBundle of --webhook-configuration (instead of --tls-cert-file/--tls-private-key-file)',
    defaultText: 'false',
  },
  {
    name: 'bootstrap-secret',
    kind: 'string',
    placeholder: 'name',
    description: 'with --self-bootstrap: the Secret (in --bootstrap-namespace) that holds the CA and serving certificate',
    defaultText: DEFAULTS.bootstrapSecret,
  },
  {
    name: 'webhook-configuration',
    kind: 'string',
    placeholder: 'name',
    description: 'with --self-bootstrap: the MutatingWebhookConfiguration whose caBundle is kept up to date',
    defaultText: DEFAULTS.webhookConfiguration,
  },
  {
    name: 'bootstrap-service',
    kind: 'string',
    placeholder: 'name',
    description: 'with --self-bootstrap: the Service the certificate is for (DNS names service, service.ns, service.ns.svc, service.ns.svc.cluster.local)',
    defaultText: DEFAULTS.bootstrapService,
  },
  {
    name: 'bootstrap-namespace',
    kind: 'string',
    placeholder: 'namespace',
    description: "with --self-bootstrap: the webhook's namespace",
    defaultText: "the pod's own, from its service account",
  },
  {
    name: 'registry-ca-file',
    kind: 'string',
    placeholder: 'path',
    description: 'PEM bundle of extra CAs trusted for registries (private CAs), in addition to the system ones',
  },
  {
    name: 'insecure-registries',
    kind: 'string',
    placeholder: 'hosts',
    description: 'comma-separated registry hosts (host or host:port) reached over plain HTTP',
  },
  {
    name: 'allowed-registries',
    kind: 'string',
    placeholder: 'patterns',
    description:
      'comma-separated host[:port] patterns of the only registries whose image configs are read ("*" within a host label or as the port, ' +
      'e.g. *.dkr.ecr.*.amazonaws.com,ghcr.io,127.0.0.1:*); unset: any registry. Loopback, link-local, cloud metadata and unspecified ' +
      'addresses are never contacted for a registry, token realm or redirect unless its host is named here without "*" or in --insecure-registries',
  },
  {
    name: 'registry-timeout',
    kind: 'string',
    placeholder: 'duration',
    description: 'timeout of each registry request (token, manifest, config blob); at most 30s',
    defaultText: DEFAULTS.registryTimeout,
  },
  {
    name: 'image-cache-ttl',
    kind: 'string',
    placeholder: 'duration',
    description: 'how long a tag -> digest resolution is reused (configs by digest are kept, bounded); 0 = resolve tags on every admission; at most 24h',
    defaultText: DEFAULTS.imageCacheTtl,
  },
  {
    name: 'default-architecture',
    kind: 'string',
    placeholder: 'arch',
    description: 'CPU architecture whose image config is read from multi-arch images when the pod does not pin kubernetes.io/arch',
    defaultText: DEFAULTS.defaultArchitecture,
  },
  {
    name: 'max-request-bytes',
    kind: 'string',
    placeholder: 'size',
    description: `largest accepted admission request body: bytes, or with suffix Ki, Mi, K, M; ${MAX_REQUEST_BYTES_MIN} to ${MAX_REQUEST_BYTES_MAX}, and at most 1/128 of V8's heap limit (parsing JSON may take 32 bytes of heap per byte; request bodies may hold half the heap, which must have room for two such parses)`,
    defaultText: DEFAULTS.maxRequestBytes,
  },
  {
    name: 'max-connections',
    kind: 'string',
    placeholder: 'n',
    description:
      'most connections open at once on each listener; past it a new connection is closed as soon as it is accepted ' +
      '(counted in secrets_init_webhook_connections_dropped_total); an idle TLS connection holds ~46 KiB. ' +
      `1 to ${MAX_CONNECTIONS_MAX}`,
    defaultText: DEFAULTS.maxConnections,
  },
  {
    name: 'shutdown-drain',
    kind: 'string',
    placeholder: 'duration',
    description:
      'on SIGTERM or SIGINT, how long /readyz answers 503 while the webhook keeps serving (and accepting connections), ' +
      'so Kubernetes takes the pod out of the Service endpoints before it stops listening; ' +
      `responses carry "Connection: close" meanwhile; 0 to ${SHUTDOWN_DRAIN_MAX}; ` +
      'a second signal exits at once (exit code 128 + signal number)',
    defaultText: `${DEFAULTS.shutdownDrain} in a Kubernetes pod (KUBERNETES_SERVICE_HOST set), 0 elsewhere`,
  },
  {
    name: 'shutdown-timeout',
    kind: 'string',
    placeholder: 'duration',
    description:
      'after the drain, how long in-flight requests may take to finish once the listener is closed; ' +
      'connections still busy then are cut and the exit code is 1; ' +
      "keep drain + timeout below the pod's terminationGracePeriodSeconds (30s by default); " +
      `greater than 0, at most ${SHUTDOWN_TIMEOUT_MAX}`,
    defaultText: DEFAULTS.shutdownTimeout,
  },
];

const CERTS_FLAGS: readonly FlagSpec[] = [
  {
    name: 'service',
    kind: 'string',
    placeholder: 'name',
    description: 'name of the webhook Service the certificate is issued for',
    defaultText: DEFAULTS.service,
  },
  {
    name: 'namespace',
    kind: 'string',
    placeholder: 'namespace',
    description: 'namespace of that Service',
    defaultText: DEFAULTS.namespace,
  },
  {
    name: 'out',
    kind: 'string',
    placeholder: 'dir',
    description: 'directory the certificate files are written to',
    defaultText: DEFAULTS.out,
  },
  {
    name: 'host',
    kind: 'list',
    placeholder: 'host',
    description:
      'extra subject alternative name (DNS name or IP address); repeat the flag or separate with commas; replaces the default list; --host= for none',
    defaultText: DEFAULTS.hosts.join(','),
  },
  {
    name: 'days',
    kind: 'string',
    placeholder: 'n',
    description: 'validity of the certificate in days, 1 to 3650',
    defaultText: DEFAULTS.days,
  },
];

/** The server's flags that say what injection does to a pod: `inject` takes the same ones. */
export const INJECTION_FLAG_NAMES = [
  'image',
  'pull-policy',
  'init-container-user',
  'volume-name',
  'volume-path',
  'provider',
  'exit-early',
  'google-project',
  'secrets-init-log-format',
  'supervisor-command',
  'max-objects-per-pod',
  'max-variables-per-pod',
] as const;
/** The server's flags for reading image configs from registries: `inject` reads them the same way. */
export const REGISTRY_FLAG_NAMES = [
  'registry-ca-file',
  'insecure-registries',
  'allowed-registries',
  'registry-skip-verify',
  'registry-timeout',
  'docker-config-json-key',
  'default-image-pull-secret',
  'default-image-pull-secret-namespace',
  'default_image_pull_secret',
  'default_image_pull_secret_namespace',
  'default-architecture',
] as const;

function serverFlags(names: readonly string[]): FlagSpec[] {
  return names.map((name) => {
    const spec = SERVER_FLAGS.find((candidate) => candidate.name === name);
    if (spec === undefined) throw new Error(`internal: no server flag --${name}`);
    return spec;
  });
}

const KUBE_ACCESS_FLAGS: readonly FlagSpec[] = [
  {
    name: 'kubeconfig',
    kind: 'string',
    placeholder: 'path',
    description: 'kubeconfig file to read the cluster through',
    defaultText: 'KUBECONFIG, else the in-cluster service account, else ~/.kube/config if it exists',
  },
  {
    name: 'context',
    kind: 'string',
    placeholder: 'name',
    description: 'kubeconfig context to use',
    defaultText: 'the current context',
  },
];

const INJECT_FLAGS: readonly FlagSpec[] = [
  {
    name: 'filename',
    short: 'f',
    kind: 'list',
    placeholder: 'path',
    description:
      'manifest file (YAML or JSON, several documents, List kinds), directory (read recursively: *.yaml, *.yml, *.json) or - for stdin; repeatable',
  },
  {
    name: 'output',
    short: 'o',
    kind: 'string',
    placeholder: 'format',
    description: `output format: ${OUTPUT_FORMATS.join(', ')} (json: the one object, or a List of them)`,
    defaultText: DEFAULTS.output,
  },
  {
    name: 'check',
    kind: 'bool',
    description: 'write no manifests: print the workloads that would change, and exit 1 if there is any (0 when everything is injected already)',
    defaultText: 'false',
  },
  {
    name: 'explain',
    kind: 'bool',
    description: 'write to stderr, per container, why it is or is not wrapped: the variables holding references and where they come from, the provider, the command that will run',
    defaultText: 'false',
  },
  {
    name: 'allow-unresolved',
    kind: 'bool',
    description:
      'when a referenced Secret or ConfigMap is neither in the input nor readable from a cluster, report it and go on as if it held no reference (the webhook decides at admission) instead of exiting 1',
    defaultText: 'false',
  },
  {
    name: 'image-command',
    kind: 'list',
    placeholder: 'image=json',
    description:
      'the ENTRYPOINT/CMD of an image, instead of asking its registry: IMAGE=VALUE, IMAGE as the pods write it, VALUE as in the ' +
      'secrets-init/command.<container> annotation (a JSON array of strings, the ENTRYPOINT, or {"entrypoint":[…],"cmd":[…]}); repeatable',
  },
  ...KUBE_ACCESS_FLAGS,
  {
    name: 'namespace',
    short: 'n',
    kind: 'string',
    placeholder: 'namespace',
    description: 'namespace of the objects in the input that name none',
    defaultText: "the kubeconfig context's namespace (in a pod without a kubeconfig: the pod's own), else default",
  },
  ...serverFlags(INJECTION_FLAG_NAMES),
  ...serverFlags(REGISTRY_FLAG_NAMES),
];

const AUDIT_FLAGS: readonly FlagSpec[] = [
  ...KUBE_ACCESS_FLAGS,
  {
    name: 'namespace',
    short: 'n',
    kind: 'string',
    placeholder: 'namespace',
    description: 'namespace to scan',
    defaultText: "the kubeconfig context's namespace (in a pod without a kubeconfig: the pod's own), else default",
  },
  {
    name: 'all-namespaces',
    short: 'A',
    kind: 'bool',
    description: 'scan every namespace',
    defaultText: 'false',
  },
  {
    name: 'output',
    short: 'o',
    kind: 'string',
    placeholder: 'format',
    description: `output format: ${AUDIT_OUTPUT_FORMATS.join(', ')}`,
    defaultText: DEFAULTS.auditOutput,
  },
  {
    name: 'webhook-configuration',
    kind: 'string',
    placeholder: 'name',
    description: "the webhook's MutatingWebhookConfiguration, read to tell why a pod was missed (namespace selector, creation time); not required",
    defaultText: DEFAULTS.webhookConfiguration,
  },
  {
    name: 'page-size',
    kind: 'string',
    placeholder: 'n',
    description: 'pods asked for per list request (limit/continue), 1 to 5000',
    defaultText: DEFAULTS.pageSize,
  },
  // As the server's, described for what audit does with them.
  ...serverFlags(['volume-path', 'supervisor-command']).map((spec) =>
    spec.name === 'volume-path'
      ? { ...spec, description: "the server's --volume-path: where an injected container runs secrets-init from, to tell it apart" }
      : spec,
  ),
];

export const COMMAND_FLAGS: Readonly<Record<CommandName, readonly FlagSpec[]>> = {
  server: SERVER_FLAGS,
  certs: CERTS_FLAGS,
  inject: INJECT_FLAGS,
  audit: AUDIT_FLAGS,
};
