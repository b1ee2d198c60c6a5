/**
 * Command-line parsing for `secrets-init-webhook [global flags] <command> [command flags]`.
 * Pure: the caller supplies argv (without node and the script), the environment
 * and the version string, and decides what to do with the result.
 */
import { CommanderError, type Command } from 'commander';
import { PROVIDERS, isProvider, type Provider } from '../core/provider.js';
import { LOG_FORMATS, googleProjectProblem, isLogFormat, unsupportedMessage, unsupportedOptions, type RuntimeOptions } from '../core/runtime-options.js';
import { DEFAULT_SUPERVISORS, parseSupervisorCommand, type SupervisorCommand } from '../core/supervisor.js';
import { ImageReferenceError, parseImageReference } from '../core/image-reference.js';
import type { PodLimits } from '../core/settings.js';
import { parseRegistryPattern } from '../registry/allowed-registries.js';
import { parseDurationMs } from './duration.js';
import {
  DEFAULTS,
  LOG_LEVELS,
  LOOKUP_TIMEOUT_MAX,
  ADMISSION_TIMEOUT_MAX,
  MAX_REQUEST_BYTES_MAX,
  MAX_CONNECTIONS_MAX,
  MAX_OBJECTS_PER_POD_MAX,
  MAX_VARIABLES_PER_POD_MAX,
  MAX_CONCURRENT_READS_MAX,
  SHUTDOWN_DRAIN_MAX,
  SHUTDOWN_TIMEOUT_MAX,
  MAX_REQUEST_BYTES_MIN,
  PULL_POLICIES,
  OUTPUT_FORMATS,
  AUDIT_OUTPUT_FORMATS,
  type CommandName,
} from './flags.js';
import { parseCommandValue } from '../core/command-override.js';
import type { ImageConfig } from '../core/original-command.js';
import { normalizeArgv } from './argv.js';
import { parseListenAddress, type ListenAddress } from './listen-address.js';
import { buildProgram, readFlag, shownProgramName, type CapturedOutput } from './program.js';
import { parseByteSize } from './size.js';
import { isDns1035Label, isDns1123Label, isDns1123Subdomain, isHostNameOrIPv4, isIPv6, parseBool, type Parsed } from './values.js';

export type { ListenAddress } from './listen-address.js';
export { formatListenAddress, parseListenAddress } from './listen-address.js';
export { parseDurationMs } from './duration.js';
export { parseByteSize } from './size.js';

export type LogLevel = (typeof LOG_LEVELS)[number];
export interface GlobalOptions {
  logLevel: LogLevel;
  json: boolean;
}
export type PullPolicy = (typeof PULL_POLICIES)[number];
export interface ServerOptions {
  listenAddress: ListenAddress;
  telemetryListenAddress?: ListenAddress;
  tlsCertFile?: string;
  tlsPrivateKeyFile?: string;
  /** --client-ca-file: admissions need a client certificate signed by one of these CAs. */
  clientCaFile?: string;
  image: string;
  pullPolicy: PullPolicy;
  /** --init-container-user: the init container's runAsUser/runAsGroup, or 'unset'. */
  initContainerUser: number | 'unset';
  registrySkipVerify: boolean;
  dockerConfigJsonKey: string;
  defaultImagePullSecret?: string;
  defaultImagePullSecretNamespace?: string;
  volumeName: string;
  volumePath: string;
  /** Accepted for compatibility; every reference names its provider. */
  provider: Provider;
  /** secrets-init options for every pod: --exit-early, --google-project, --secrets-init-log-format. */
  runtime: RuntimeOptions;
  /** Argo's executor, then every --supervisor-command. */
  supervisors: SupervisorCommand[];
  /** --max-objects-per-pod, --max-variables-per-pod. */
  limits: PodLimits;
  /** --max-concurrent-reads. */
  maxConcurrentReads: number;
  /** --admission-timeout. */
  admissionTimeoutMs: number;
  /** --object-cache-ttl: 0 = only reads in flight are shared. */
  objectCacheTtlMs: number;
  lookupTimeoutMs: number;
  maxRequestBytes: number;
  /** --max-connections: on each listener. */
  maxConnections: number;
  registryCaFile?: string;
  insecureRegistries: string[];
  /** --allowed-registries: host[:port] patterns; undefined = any registry. */
  allowedRegistries?: string[];
  registryTimeoutMs: number;
  imageCacheTtlMs: number;
  defaultArchitecture: string;
  /** --self-bootstrap: where the certificate lives and whose caBundle to keep. */
  selfBootstrap?: { secret: string; webhookConfiguration: string; service: string; namespace?: string };
  /** --shutdown-drain: time between the stop signal and closing the listener, unready meanwhile. */
  shutdownDrainMs: number;
  /** --shutdown-timeout: bound on in-flight requests after the listener closed. */
  shutdownTimeoutMs: number;
}
export interface CertsOptions {
  service: string;
  namespace: string;
  out: string;
  hosts: string[];
  days: number;
}
/** Where the offline commands read a cluster: --kubeconfig and --context (both optional). */
export interface KubeAccessOptions {
  kubeconfig?: string;
  context?: string;
}
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];
export type AuditOutputFormat = (typeof AUDIT_OUTPUT_FORMATS)[number];
export interface InjectOptions {
  /** -f: files, directories, `-` for stdin; in the order given. */
  files: string[];
  output: OutputFormat;
  check: boolean;
  explain: boolean;
  allowUnresolved: boolean;
  /** --image-command: image as the pods write it → its ENTRYPOINT/CMD. */
  imageCommands: Map<string, ImageConfig>;
  kube: KubeAccessOptions;
  /** -n: namespace of the objects in the input that name none. */
  namespace?: string;
  injection: InjectionFlags;
  registry: RegistryFlags;
}
export interface AuditOptions {
  kube: KubeAccessOptions;
  /** -n; undefined: the context's namespace (or default), unless allNamespaces. */
  namespace?: string;
  allNamespaces: boolean;
  output: AuditOutputFormat;
  webhookConfiguration: string;
  pageSize: number;
  /** To recognise wrapped containers as the server does. */
  volumePath: string;
  supervisors: SupervisorCommand[];
}
export type CommandLine =
  | { kind: 'server'; global: GlobalOptions; server: ServerOptions }
  | { kind: 'certs'; global: GlobalOptions; certs: CertsOptions }
  | { kind: 'inject'; global: GlobalOptions; inject: InjectOptions }
  | { kind: 'audit'; global: GlobalOptions; audit: AuditOptions }
  | { kind: 'exit'; code: number; stdout: string; stderr: string };

/** Exit code for usage errors (as Go's flag package and most CLIs use). */
export const USAGE_EXIT_CODE = 2;

/** Thrown internally to abort validation with a one-line usage message. */
class UsageError extends Error {}

function usage(message: string): UsageError {
  return new UsageError(message);
}

function usageExit(message: string): CommandLine {
  const line = message.replace(/\s*\r?\n\s*/g, ' ').trim();
  return { kind: 'exit', code: USAGE_EXIT_CODE, stdout: '', stderr: `${shownProgramName()}: ${line}; see --help\n` };
}

function invalid(value: string, where: string, reason: string): UsageError {
  return usage(`invalid value ${JSON.stringify(value)} for ${where} (${reason})`);
}

function check<T>(parsed: Parsed<T>, value: string, where: string): T {
  if (!parsed.ok) throw invalid(value, where, parsed.reason);
  return parsed.value;
}

function oneOf(values: readonly string[]): string {
  return `must be one of: ${values.join(', ')}`;
}

function stringFlag(command: Command, name: string): string | undefined {
  const value = readFlag(command, name);
  return typeof value === 'string' ? value : undefined;
}

function boolFlag(command: Command, name: string): boolean | undefined {
  const value = readFlag(command, name);
  return typeof value === 'boolean' ? value : undefined;
}

function listFlag(command: Command, name: string): string[] | undefined {
  const value = readFlag(command, name);
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : undefined;
}

/** Unset or empty means "not configured" (as in the reference, which tests for ""). */
function optionalString(command: Command, name: string): string | undefined {
  const value = stringFlag(command, name);
  return value === undefined || value === '' ? undefined : value;
}

function parseLogLevel(text: string): Parsed<LogLevel> {
  const lower = text.toLowerCase();
  const level = lower === 'warn' ? 'warning' : lower;
  const match = LOG_LEVELS.find((candidate) => candidate === level);
  return match === undefined ? { ok: false, reason: oneOf(LOG_LEVELS) } : { ok: true, value: match };
}

function globalOptions(program: Command, env: Readonly<Record<string, string | undefined>>): GlobalOptions {
  let logLevel: LogLevel;
  const levelFlag = stringFlag(program, 'log-level');
  const levelEnv = env['LOG_LEVEL'];
  if (levelFlag !== undefined) {
    logLevel = check(parseLogLevel(levelFlag), levelFlag, '--log-level');
  } else if (levelEnv !== undefined && levelEnv !== '') {
    logLevel = check(parseLogLevel(levelEnv), levelEnv, 'LOG_LEVEL');
  } else {
    logLevel = DEFAULTS.logLevel;
  }

  let json = boolFlag(program, 'json');
  const jsonEnv = env['LOG_JSON'];
  if (json === undefined) {
    json = jsonEnv === undefined ? false : check(parseBool(jsonEnv, true), jsonEnv, 'LOG_JSON');
  }
  return { logLevel, json };
}

const DOCKER_CONFIG_KEY = /^[-._a-zA-Z0-9]+$/;
const DNS1123_LABEL_RULE =
  'must be a DNS-1123 label: at most 63 lowercase letters, digits or "-", starting and ending with a letter or digit';
const SERVICE_NAME_RULE = 'must be a Service name: at most 63 lowercase letters, digits or "-", starting with a letter and ending with a letter or digit';

function serverOptions(command: Command, env: Readonly<Record<string, string | undefined>>): ServerOptions {
  const listenText = stringFlag(command, 'listen-address') ?? DEFAULTS.listenAddress;
  const listenAddress = check(parseListenAddress(listenText), listenText, '--listen-address');

  const telemetryText = optionalString(command, 'telemetry-listen-address');
  const telemetryListenAddress =
    telemetryText === undefined
      ? undefined
      : check(parseListenAddress(telemetryText), telemetryText, '--telemetry-listen-address');

  const tlsCertFile = optionalString(command, 'tls-cert-file');
  const tlsPrivateKeyFile = optionalString(command, 'tls-private-key-file');
  if ((tlsCertFile === undefined) !== (tlsPrivateKeyFile === undefined)) {
    const given = tlsCertFile === undefined ? '--tls-private-key-file' : '--tls-cert-file';
    throw usage(
      `--tls-cert-file and --tls-private-key-file must be given together for HTTPS (only ${given} was given)`,
    );
  }

  const clientCaFile = optionalString(command, 'client-ca-file');
  if (clientCaFile !== undefined && tlsCertFile === undefined) {
    throw usage('--client-ca-file needs --tls-cert-file and --tls-private-key-file: client certificates exist only over HTTPS');
  }

  const injection = injectionFlags(command);
  const registry = registryFlags(command);
  const maxConcurrentReads = countFlag(command, 'max-concurrent-reads', DEFAULTS.maxConcurrentReads, MAX_CONCURRENT_READS_MAX);
  const timeoutMs = durationFlag(command, 'lookup-timeout', DEFAULTS.lookupTimeout, false, LOOKUP_TIMEOUT_MAX);
  const admissionTimeoutMs = durationFlag(command, 'admission-timeout', DEFAULTS.admissionTimeout, false, ADMISSION_TIMEOUT_MAX);
  const objectCacheTtlMs = durationFlag(command, 'object-cache-ttl', DEFAULTS.objectCacheTtl, true, '5m');
  const imageCacheTtlMs = durationFlag(command, 'image-cache-ttl', DEFAULTS.imageCacheTtl, true, '24h');

  const sizeText = stringFlag(command, 'max-request-bytes') ?? DEFAULTS.maxRequestBytes;
  const maxRequestBytes = check(parseByteSize(sizeText), sizeText, '--max-request-bytes');
  const minBytes = check(parseByteSize(MAX_REQUEST_BYTES_MIN), MAX_REQUEST_BYTES_MIN, 'MAX_REQUEST_BYTES_MIN');
  const maxBytes = check(parseByteSize(MAX_REQUEST_BYTES_MAX), MAX_REQUEST_BYTES_MAX, 'MAX_REQUEST_BYTES_MAX');
  if (maxRequestBytes < minBytes || maxRequestBytes > maxBytes) {
    throw invalid(
      sizeText,
      '--max-request-bytes',
      `must be from ${MAX_REQUEST_BYTES_MIN} (${minBytes}) to ${MAX_REQUEST_BYTES_MAX} (${maxBytes}) bytes`,
    );
  }

  const maxConnections = countFlag(command, 'max-connections', DEFAULTS.maxConnections, MAX_CONNECTIONS_MAX);

  // Draining only matters behind a Service: default it on in a pod, off elsewhere (local runs stop at once).
  const inPod = (env['KUBERNETES_SERVICE_HOST'] ?? '') !== '';
  const shutdownDrainMs = durationFlag(command, 'shutdown-drain', inPod ? DEFAULTS.shutdownDrain : DEFAULTS.shutdownDrainOutsideKubernetes, true, SHUTDOWN_DRAIN_MAX);
  const shutdownTimeoutMs = durationFlag(command, 'shutdown-timeout', DEFAULTS.shutdownTimeout, false, SHUTDOWN_TIMEOUT_MAX);

  let selfBootstrap: ServerOptions['selfBootstrap'];
  if (boolFlag(command, 'self-bootstrap') === true) {
    if (tlsCertFile !== undefined || tlsPrivateKeyFile !== undefined) {
      throw new UsageError('--self-bootstrap makes its own certificate; it cannot be combined with --tls-cert-file/--tls-private-key-file');
    }
    const names: Array<[string, string]> = [
      ['bootstrap-secret', DEFAULTS.bootstrapSecret],
      ['webhook-configuration', DEFAULTS.webhookConfiguration],
    ];
    const [secret, webhookConfiguration] = names.map(([name, fallback]) => {
      const value = stringFlag(command, name) ?? fallback;
      if (!isDns1123Subdomain(value)) throw invalid(value, `--${name}`, 'must be a Kubernetes object name: a DNS-1123 subdomain');
      return value;
    }) as [string, string];
    // A Service name is a DNS label (it is the first label of the certificate's DNS names), not a subdomain.
    const service = stringFlag(command, 'bootstrap-service') ?? DEFAULTS.bootstrapService;
    if (!isDns1035Label(service)) throw invalid(service, '--bootstrap-service', SERVICE_NAME_RULE);
    const namespace = optionalString(command, 'bootstrap-namespace');
    if (namespace !== undefined && !isDns1123Label(namespace)) throw invalid(namespace, '--bootstrap-namespace', 'must be a namespace name: a DNS-1123 label');
    selfBootstrap = { secret, webhookConfiguration, service, ...(namespace !== undefined ? { namespace } : {}) };
  }

  const server: ServerOptions = {
    listenAddress,
    ...injection,
    ...registry,
    maxConcurrentReads,
    admissionTimeoutMs: Math.ceil(admissionTimeoutMs),
    objectCacheTtlMs: Math.ceil(objectCacheTtlMs),
    // Whole milliseconds for timers; a positive sub-millisecond duration becomes 1ms.
    lookupTimeoutMs: Math.ceil(timeoutMs),
    maxRequestBytes,
    maxConnections,
    imageCacheTtlMs: Math.ceil(imageCacheTtlMs),
    shutdownDrainMs: Math.ceil(shutdownDrainMs),
    shutdownTimeoutMs: Math.ceil(shutdownTimeoutMs),
  };
  if (selfBootstrap !== undefined) server.selfBootstrap = selfBootstrap;
  if (telemetryListenAddress !== undefined) server.telemetryListenAddress = telemetryListenAddress;
  if (tlsCertFile !== undefined) server.tlsCertFile = tlsCertFile;
  if (clientCaFile !== undefined) server.clientCaFile = clientCaFile;
  if (tlsPrivateKeyFile !== undefined) server.tlsPrivateKeyFile = tlsPrivateKeyFile;
  return server;
}

/** What injection does to a pod: the flags the server and `inject` share. */
export type InjectionFlags = Pick<ServerOptions, 'image' | 'pullPolicy' | 'initContainerUser' | 'volumeName' | 'volumePath' | 'provider' | 'runtime' | 'supervisors' | 'limits'>;

function volumePathFlag(command: Command): string {
  const volumePathText = stringFlag(command, 'volume-path') ?? DEFAULTS.volumePath;
  if (!volumePathText.startsWith('/')) {
    throw invalid(volumePathText, '--volume-path', 'must be an absolute path');
  }
  if (volumePathText.includes(':')) throw invalid(volumePathText, '--volume-path', 'must not contain ":"');
  // The wrapper's path goes into `command`, where the kubelet would expand a `$`.
  if (volumePathText.includes('$')) throw invalid(volumePathText, '--volume-path', 'must not contain "$"');
  const volumePath = volumePathText.replace(/\/+$/, '');
  if (volumePath === '') throw invalid(volumePathText, '--volume-path', 'must not be the root directory');
  return volumePath;
}

/** Argo's executor, then every --supervisor-command. */
function supervisorsFlag(command: Command): SupervisorCommand[] {
  const supervisors = [...DEFAULT_SUPERVISORS];
  for (const text of listFlag(command, 'supervisor-command') ?? []) {
    const parsed = parseSupervisorCommand(text);
    if ('problem' in parsed) throw invalid(text, '--supervisor-command', parsed.problem);
    supervisors.push(parsed.command);
  }
  return supervisors;
}

function injectionFlags(command: Command): InjectionFlags {
  const image = stringFlag(command, 'image') ?? DEFAULTS.image;
  try {
    parseImageReference(image);
  } catch (error) {
    if (!(error instanceof ImageReferenceError)) throw error;
    throw invalid(image, '--image', 'must be an image reference such as ghcr.io/doitintl/secrets-init:0.5.3');
  }

  const pullPolicyText = stringFlag(command, 'pull-policy') ?? DEFAULTS.pullPolicy;
  const pullPolicy = PULL_POLICIES.find((candidate) => candidate === pullPolicyText);
  if (pullPolicy === undefined) throw invalid(pullPolicyText, '--pull-policy', oneOf(PULL_POLICIES));

  const initContainerUser = initContainerUserFlag(command);

  const volumeName = stringFlag(command, 'volume-name') ?? DEFAULTS.volumeName;
  if (!isDns1123Label(volumeName)) throw invalid(volumeName, '--volume-name', DNS1123_LABEL_RULE);

  const volumePath = volumePathFlag(command);

  const providerText = stringFlag(command, 'provider') ?? DEFAULTS.provider;
  if (!isProvider(providerText)) throw invalid(providerText, '--provider', oneOf(PROVIDERS));

  const runtime = runtimeOptions(command, image);
  const supervisors = supervisorsFlag(command);

  const limits: PodLimits = {
    objectsPerPod: countFlag(command, 'max-objects-per-pod', DEFAULTS.maxObjectsPerPod, MAX_OBJECTS_PER_POD_MAX),
    variablesPerPod: countFlag(command, 'max-variables-per-pod', DEFAULTS.maxVariablesPerPod, MAX_VARIABLES_PER_POD_MAX),
  };
  return { image, pullPolicy, initContainerUser, volumeName, volumePath, provider: providerText, runtime, supervisors, limits };
}

/** A uid the kubelet runs as non-root (1 to 2^31 - 1, a Kubernetes uid's range), or `unset`. */
function initContainerUserFlag(command: Command): number | 'unset' {
  const text = stringFlag(command, 'init-container-user') ?? DEFAULTS.initContainerUser;
  if (text === 'unset') return 'unset';
  const uid = Number(text);
  if (!/^[0-9]+$/.test(text) || uid < 1 || uid > 2_147_483_647) {
    throw invalid(text, '--init-container-user', 'must be a uid from 1 to 2147483647 (the container runs as non-root) or unset');
  }
  return uid;
}

/** How image configs are read from registries: the flags the server and `inject` share. */
export type RegistryFlags = Pick<
  ServerOptions,
  | 'registrySkipVerify'
  | 'dockerConfigJsonKey'
  | 'defaultImagePullSecret'
  | 'defaultImagePullSecretNamespace'
  | 'registryCaFile'
  | 'insecureRegistries'
  | 'allowedRegistries'
  | 'registryTimeoutMs'
  | 'defaultArchitecture'
>;

function registryFlags(command: Command): RegistryFlags {
  const registrySkipVerify = boolFlag(command, 'registry-skip-verify') ?? false;

  const dockerConfigJsonKey = stringFlag(command, 'docker-config-json-key') ?? DEFAULTS.dockerConfigJsonKey;
  if (dockerConfigJsonKey.length > 253 || !DOCKER_CONFIG_KEY.test(dockerConfigJsonKey)) {
    throw invalid(
      dockerConfigJsonKey,
      '--docker-config-json-key',
      'must be a Secret data key: letters, digits, "-", "_" or "."',
    );
  }

  const defaultImagePullSecret = aliasedFlag(command, ['default-image-pull-secret', 'default_image_pull_secret'], isDns1123Subdomain, 'must be a Secret name: a DNS-1123 subdomain');
  const defaultImagePullSecretNamespace = aliasedFlag(command, ['default-image-pull-secret-namespace', 'default_image_pull_secret_namespace'], isDns1123Label, 'must be a namespace name: a DNS-1123 label');

  const registryCaFile = optionalString(command, 'registry-ca-file');
  const insecureRegistries = (optionalString(command, 'insecure-registries') ?? '')
    .split(',')
    .map((host) => host.trim())
    .filter((host) => host !== '');
  for (const host of insecureRegistries) {
    if (!REGISTRY_HOST.test(host)) throw invalid(host, '--insecure-registries', 'each entry must be a registry host or host:port');
  }
  const allowedText = optionalString(command, 'allowed-registries');
  const allowedRegistries = allowedText?.split(',').map((pattern) => pattern.trim()).filter((pattern) => pattern !== '');
  for (const pattern of allowedRegistries ?? []) {
    if (parseRegistryPattern(pattern) === undefined) throw invalid(pattern, '--allowed-registries', 'each entry must be host[:port], with "*" within a host label or as the port');
  }
  const defaultArchitecture = stringFlag(command, 'default-architecture') ?? DEFAULTS.defaultArchitecture;
  if (!/^[a-z0-9_]+$/.test(defaultArchitecture)) {
    throw invalid(defaultArchitecture, '--default-architecture', 'must be an architecture name such as amd64 or arm64');
  }

  const registryTimeoutMs = durationFlag(command, 'registry-timeout', DEFAULTS.registryTimeout, false, '30s');
  const registry: RegistryFlags = {
    registrySkipVerify,
    dockerConfigJsonKey,
    insecureRegistries,
    registryTimeoutMs: Math.ceil(registryTimeoutMs),
    defaultArchitecture,
  };
  if (registryCaFile !== undefined) registry.registryCaFile = registryCaFile;
  if (allowedRegistries !== undefined) registry.allowedRegistries = allowedRegistries;
  if (defaultImagePullSecret !== undefined) registry.defaultImagePullSecret = defaultImagePullSecret;
  if (defaultImagePullSecretNamespace !== undefined) registry.defaultImagePullSecretNamespace = defaultImagePullSecretNamespace;
  return registry;
}

/** The secrets-init options of the server flags; each must be one the --image release has. */
function runtimeOptions(command: Command, image: string): RuntimeOptions {
  const runtime: RuntimeOptions = { exitEarly: boolFlag(command, 'exit-early') ?? false };
  const project = optionalString(command, 'google-project');
  if (project !== undefined) {
    const problem = googleProjectProblem(project);
    if (problem !== undefined) throw invalid(project, '--google-project', problem);
    runtime.googleProject = project;
  }
  const format = optionalString(command, 'secrets-init-log-format');
  if (format !== undefined) {
    if (!isLogFormat(format)) throw invalid(format, '--secrets-init-log-format', oneOf(LOG_FORMATS));
    runtime.logFormat = format;
  }
  const [unsupported] = unsupportedOptions(image, runtime);
  if (unsupported !== undefined) {
    const flag = unsupported === 'log-format' ? 'secrets-init-log-format' : unsupported;
    throw usage(`--${flag}: ${unsupportedMessage(unsupported, image)}; use a newer --image or drop the flag`);
  }
  return runtime;
}

/** A registry host as written in an image reference: name or IPv4 or [IPv6], optional port. */
const REGISTRY_HOST = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]{1,5})?$/;

/** The first spelling given (the hyphenated one wins over the reference's hidden underscore one), checked. */
function aliasedFlag(command: Command, names: readonly string[], valid: (value: string) => boolean, rule: string): string | undefined {
  for (const name of names) {
    const value = optionalString(command, name);
    if (value === undefined) continue;
    if (!valid(value)) throw invalid(value, `--${name}`, rule);
    return value;
  }
  return undefined;
}

/** A whole number flag from 1 to `max`. */
function countFlag(command: Command, name: string, fallback: string, max: number): number {
  const text = stringFlag(command, name) ?? fallback;
  const value = Number(text);
  if (!/^[0-9]+$/.test(text) || value < 1 || value > max) throw invalid(text, `--${name}`, `must be a whole number from 1 to ${max}`);
  return value;
}

/** A Go duration flag within (0 or more, per `zeroAllowed`) .. `max`. */
function durationFlag(command: Command, name: string, fallback: string, zeroAllowed: boolean, max: string): number {
  const text = stringFlag(command, name) ?? fallback;
  const ms = check(parseDurationMs(text), text, `--${name}`);
  const maxMs = check(parseDurationMs(max), max, name);
  if (ms < 0 || (!zeroAllowed && ms === 0)) throw invalid(text, `--${name}`, zeroAllowed ? 'must not be negative' : 'must be greater than 0');
  if (ms > maxMs) throw invalid(text, `--${name}`, `must be at most ${max}`);
  return ms;
}

function parseSan(text: string): string | undefined {
  const unbracketed = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  // An IP SAN is the bare address: a zone index (`fe80::1%eth0`) cannot be in a certificate.
  if (isIPv6(unbracketed)) return unbracketed.includes('%') ? undefined : unbracketed;
  if (isHostNameOrIPv4(text)) return text;
  if (text.startsWith('*.') && isHostNameOrIPv4(text.slice(2)) && !/^[0-9.]+$/.test(text.slice(2))) return text;
  return undefined;
}

function certsOptions(command: Command): CertsOptions {
  const service = stringFlag(command, 'service') ?? DEFAULTS.service;
  if (!isDns1035Label(service)) throw invalid(service, '--service', SERVICE_NAME_RULE);
  const namespace = stringFlag(command, 'namespace') ?? DEFAULTS.namespace;
  if (!isDns1123Label(namespace)) throw invalid(namespace, '--namespace', DNS1123_LABEL_RULE);

  const out = stringFlag(command, 'out') ?? DEFAULTS.out;
  if (out === '') throw invalid(out, '--out', 'must be a non-empty directory path');

  const hosts: string[] = [];
  for (const given of listFlag(command, 'host') ?? DEFAULTS.hosts) {
    // An empty value adds nothing, so `--host=` alone means "no extra names".
    if (given === '') continue;
    for (const item of given.split(',')) {
      const host = parseSan(item.trim());
      if (host === undefined) throw invalid(item, '--host', 'must be a DNS name or an IP address');
      if (!hosts.includes(host)) hosts.push(host);
    }
  }

  const daysText = stringFlag(command, 'days') ?? DEFAULTS.days;
  const days = Number(daysText);
  if (!/^\d+$/.test(daysText) || days < 1 || days > 3650) {
    throw invalid(daysText, '--days', 'must be a whole number of days from 1 to 3650');
  }
  return { service, namespace, out, hosts, days };
}

function kubeAccess(command: Command): KubeAccessOptions {
  const kube: KubeAccessOptions = {};
  const kubeconfig = optionalString(command, 'kubeconfig');
  if (kubeconfig !== undefined) kube.kubeconfig = kubeconfig;
  const context = optionalString(command, 'context');
  if (context !== undefined) kube.context = context;
  return kube;
}

function namespaceFlag(command: Command): string | undefined {
  const namespace = optionalString(command, 'namespace');
  if (namespace !== undefined && !isDns1123Label(namespace)) throw invalid(namespace, '--namespace', DNS1123_LABEL_RULE);
  return namespace;
}

function injectOptions(command: Command): InjectOptions {
  const files = listFlag(command, 'filename') ?? [];
  if (files.length === 0) throw usage('inject needs at least one -f FILE, DIR or - (stdin)');
  if (files.some((file) => file === '')) throw invalid('', '--filename', 'must be a path or -');
  const outputText = stringFlag(command, 'output') ?? DEFAULTS.output;
  const output = OUTPUT_FORMATS.find((format) => format === outputText);
  if (output === undefined) throw invalid(outputText, '--output', oneOf(OUTPUT_FORMATS));
  const imageCommands = new Map<string, ImageConfig>();
  for (const text of listFlag(command, 'image-command') ?? []) {
    const equals = text.indexOf('=');
    if (equals <= 0) throw invalid(text, '--image-command', 'must be IMAGE=VALUE, VALUE a JSON array of strings or {"entrypoint":[...],"cmd":[...]}');
    const image = text.slice(0, equals);
    const parsed = parseCommandValue(text.slice(equals + 1), `--image-command ${image}`);
    if ('problem' in parsed) throw usage(parsed.problem);
    imageCommands.set(image, parsed.config);
  }
  const options: InjectOptions = {
    files,
    output,
    check: boolFlag(command, 'check') ?? false,
    explain: boolFlag(command, 'explain') ?? false,
    allowUnresolved: boolFlag(command, 'allow-unresolved') ?? false,
    imageCommands,
    kube: kubeAccess(command),
    injection: injectionFlags(command),
    registry: registryFlags(command),
  };
  const namespace = namespaceFlag(command);
  if (namespace !== undefined) options.namespace = namespace;
  return options;
}

function auditOptions(command: Command): AuditOptions {
  const outputText = stringFlag(command, 'output') ?? DEFAULTS.auditOutput;
  const output = AUDIT_OUTPUT_FORMATS.find((format) => format === outputText);
  if (output === undefined) throw invalid(outputText, '--output', oneOf(AUDIT_OUTPUT_FORMATS));
  const allNamespaces = boolFlag(command, 'all-namespaces') ?? false;
  const namespace = namespaceFlag(command);
  if (allNamespaces && namespace !== undefined) throw usage('--namespace and --all-namespaces exclude each other');
  const webhookConfiguration = stringFlag(command, 'webhook-configuration') ?? DEFAULTS.webhookConfiguration;
  if (!isDns1123Subdomain(webhookConfiguration)) throw invalid(webhookConfiguration, '--webhook-configuration', 'must be a Kubernetes object name: a DNS-1123 subdomain');
  const audit: AuditOptions = {
    kube: kubeAccess(command),
    allNamespaces,
    output,
    webhookConfiguration,
    pageSize: countFlag(command, 'page-size', DEFAULTS.pageSize, 5000),
    volumePath: volumePathFlag(command),
    supervisors: supervisorsFlag(command),
  };
  if (namespace !== undefined) audit.namespace = namespace;
  return audit;
}

/**
 * Parse `argv` (i.e. `process.argv.slice(2)`). Help and version requests and
 * usage errors come back as `{ kind: 'exit' }` with the text to print; usage
 * errors are exactly one line on stderr with exit code 2.
 */
export function parseCommandLine(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  version: string,
): CommandLine {
  const normalized = normalizeArgv(argv);
  if (!normalized.ok) return usageExit(normalized.message);

  const output: CapturedOutput = { out: '', err: '' };
  const state: { name?: CommandName; command?: Command } = {};
  const program = buildProgram(version, output, (name, command) => {
    state.name = name;
    state.command = command;
  });

  try {
    program.parse(normalized.args, { from: 'user' });
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    const informational =
      error.code === 'commander.helpDisplayed' ||
      error.code === 'commander.version' ||
      (error.code === 'commander.help' && output.out !== '');
    if (informational) return { kind: 'exit', code: 0, stdout: output.out, stderr: '' };
    return usageExit(error.message.replace(/^error:\s*/, ''));
  }
  if (state.name === undefined || state.command === undefined) {
    // normalizeArgv guarantees a command; kept as a guard against drift.
    return usageExit('missing command');
  }

  try {
    const global = globalOptions(program, env);
    if (state.name === 'server') return { kind: 'server', global, server: serverOptions(state.command, env) };
    if (state.name === 'inject') return { kind: 'inject', global, inject: injectOptions(state.command) };
    if (state.name === 'audit') return { kind: 'audit', global, audit: auditOptions(state.command) };
    return { kind: 'certs', global, certs: certsOptions(state.command) };
  } catch (error) {
    if (error instanceof UsageError) return usageExit(error.message);
    throw error;
  }
}
