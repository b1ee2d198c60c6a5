import t from 'tap';
import type { Test } from 'tap';
import {
  parseCommandLine,
  type CertsOptions,
  type CommandLine,
  type GlobalOptions,
  type ServerOptions,
} from '../../src/cli/parse.js';

const VERSION = '9.9.9-test';
type Env = Record<string, string | undefined>;
type Tap = Test;

function parse(argv: readonly string[], env: Env = {}): CommandLine {
  return parseCommandLine(argv, env, VERSION);
}

function describeResult(result: CommandLine): string {
  return result.kind === 'exit' ? `exit ${result.code}: ${result.stderr}` : result.kind;
}

/** Parse and require a server command line; fails the test (and throws) otherwise. */
function server(tt: Tap, argv: readonly string[], env: Env = {}): { global: GlobalOptions; server: ServerOptions } {
  const result = parse(argv, env);
  if (result.kind !== 'server') {
    tt.fail(`expected server for ${JSON.stringify(argv)}, got ${describeResult(result)}`);
    throw new Error('not a server command line');
  }
  return result;
}

function certs(tt: Tap, argv: readonly string[], env: Env = {}): { global: GlobalOptions; certs: CertsOptions } {
  const result = parse(argv, env);
  if (result.kind !== 'certs') {
    tt.fail(`expected certs for ${JSON.stringify(argv)}, got ${describeResult(result)}`);
    throw new Error('not a certs command line');
  }
  return result;
}

const ONE_LINE = /^secrets-init-webhook: [^\n]+\n$/;

/** Require a usage error: exit 2, nothing on stdout, one line on stderr containing every `mentions`. */
function usageError(tt: Tap, argv: readonly string[], mentions: readonly string[], env: Env = {}): string {
  const result = parse(argv, env);
  if (result.kind !== 'exit') {
    tt.fail(`expected a usage error for ${JSON.stringify(argv)}, got ${result.kind}`);
    return '';
  }
  tt.equal(result.code, 2, `exit code for ${JSON.stringify(argv)}`);
  tt.equal(result.stdout, '', 'nothing on stdout');
  tt.match(result.stderr, ONE_LINE, `one line on stderr for ${JSON.stringify(argv)}`);
  for (const mention of mentions) {
    tt.ok(result.stderr.includes(mention), `stderr ${JSON.stringify(result.stderr)} mentions ${JSON.stringify(mention)}`);
  }
  return result.stderr;
}

function informational(tt: Tap, argv: readonly string[]): string {
  const result = parse(argv);
  if (result.kind !== 'exit') {
    tt.fail(`expected help/version output for ${JSON.stringify(argv)}, got ${result.kind}`);
    return '';
  }
  tt.equal(result.code, 0, `exit code for ${JSON.stringify(argv)}`);
  tt.equal(result.stderr, '', 'nothing on stderr');
  return result.stdout;
}

/** The spellings Go's flag package accepts for a value flag. */
function valueSpellings(name: string, value: string): string[][] {
  return [[`--${name}=${value}`], [`--${name}`, value], [`-${name}=${value}`], [`-${name}`, value]];
}

const SERVER_DEFAULTS: ServerOptions = {
  listenAddress: { host: '', port: 8443 },
  image: 'ghcr.io/doitintl/secrets-init:0.5.3',
  pullPolicy: 'IfNotPresent',
  initContainerUser: 1000,
  registrySkipVerify: false,
  dockerConfigJsonKey: '.dockerconfigjson',
  volumeName: 'secrets-init-bin',
  volumePath: '/helper/bin',
  provider: 'aws',
  runtime: { exitEarly: false },
  supervisors: [['/var/run/argo/argoexec', 'emissary', '--']],
  limits: { objectsPerPod: 100, variablesPerPod: 10_000 },
  maxConcurrentReads: 8,
  admissionTimeoutMs: 8000,
  objectCacheTtlMs: 3000,
  lookupTimeoutMs: 2000,
  maxRequestBytes: 2 * 1024 * 1024,
  maxConnections: 1024,
  insecureRegistries: [],
  registryTimeoutMs: 3000,
  imageCacheTtlMs: 5 * 60 * 1000,
  defaultArchitecture: 'amd64',
  // No KUBERNETES_SERVICE_HOST in these tests: outside a pod there is nothing to drain.
  shutdownDrainMs: 0,
  shutdownTimeoutMs: 10_000,
};

t.test('server defaults', async (tt) => {
  const result = server(tt, ['server']);
  tt.strictSame(result.global, { logLevel: 'info', json: false });
  tt.strictSame(result.server, SERVER_DEFAULTS);
  for (const unset of [
    'telemetryListenAddress',
    'tlsCertFile',
    'tlsPrivateKeyFile',
    'defaultImagePullSecret',
    'defaultImagePullSecretNamespace',
    'registryCaFile',
  ]) {
    tt.notOk(unset in result.server, `${unset} is absent, not undefined-valued`);
  }
});

t.test('reference Deployment arguments', async (tt) => {
  const plain = server(tt, [
    '--log-level=debug',
    'server',
    '--tls-cert-file=/etc/webhook/certs/cert.pem',
    '--tls-private-key-file=/etc/webhook/certs/key.pem',
  ]);
  tt.strictSame(plain.global, { logLevel: 'debug', json: false });
  tt.strictSame(plain.server, {
    ...SERVER_DEFAULTS,
    tlsCertFile: '/etc/webhook/certs/cert.pem',
    tlsPrivateKeyFile: '/etc/webhook/certs/key.pem',
  });

  // deployment/deployment.yaml plus the Helm chart's argument list.
  const helm = server(tt, [
    '--log-level=debug',
    'server',
    '--listen-address=:8443',
    '--tls-cert-file=/etc/webhook/certs/tls.crt',
    '--tls-private-key-file=/etc/webhook/certs/tls.key',
    '--telemetry-listen-address=:9090',
    '--provider=google',
    '--default-image-pull-secret=regcred',
    '--default-image-pull-secret-namespace=infra',
    '--image=doitintl/secrets-init:0.4.0',
    '--pull-policy=Always',
  ]);
  tt.strictSame(helm.server, {
    ...SERVER_DEFAULTS,
    listenAddress: { host: '', port: 8443 },
    telemetryListenAddress: { host: '', port: 9090 },
    tlsCertFile: '/etc/webhook/certs/tls.crt',
    tlsPrivateKeyFile: '/etc/webhook/certs/tls.key',
    provider: 'google',
    defaultImagePullSecret: 'regcred',
    defaultImagePullSecretNamespace: 'infra',
    image: 'doitintl/secrets-init:0.4.0',
    pullPolicy: 'Always',
  });
});

t.test('every server value flag in every spelling', async (tt) => {
  const cases: Array<[string, string, Partial<ServerOptions>]> = [
    ['listen-address', '127.0.0.1:9443', { listenAddress: { host: '127.0.0.1', port: 9443 } }],
    ['telemetry-listen-address', ':9090', { telemetryListenAddress: { host: '', port: 9090 } }],
    ['image', 'registry.example.com/tools/secrets-init:1.0', { image: 'registry.example.com/tools/secrets-init:1.0' }],
    ['pull-policy', 'Never', { pullPolicy: 'Never' }],
    ['init-container-user', '1000680000', { initContainerUser: 1000680000 }],
    ['init-container-user', 'unset', { initContainerUser: 'unset' }],
    ['docker-config-json-key', '.dockercfg', { dockerConfigJsonKey: '.dockercfg' }],
    ['default-image-pull-secret', 'regcred', { defaultImagePullSecret: 'regcred' }],
    ['default-image-pull-secret-namespace', 'kube-system', { defaultImagePullSecretNamespace: 'kube-system' }],
    ['volume-name', 'helper-bin', { volumeName: 'helper-bin' }],
    ['volume-path', '/opt/secrets/bin/', { volumePath: '/opt/secrets/bin' }],
    ['provider', 'google', { provider: 'google' }],
    ['lookup-timeout', '500ms', { lookupTimeoutMs: 500 }],
    ['max-request-bytes', '1Mi', { maxRequestBytes: 1024 * 1024 }],
    ['max-connections', '64', { maxConnections: 64 }],
    ['shutdown-drain', '1500ms', { shutdownDrainMs: 1500 }],
    ['shutdown-timeout', '1m', { shutdownTimeoutMs: 60_000 }],
  ];
  for (const [name, value, expected] of cases) {
    for (const spelling of valueSpellings(name, value)) {
      const result = server(tt, ['server', ...spelling]);
      tt.strictSame(result.server, { ...SERVER_DEFAULTS, ...expected }, spelling.join(' '));
    }
  }
});

t.test('TLS files in every spelling', async (tt) => {
  const certSpellings = valueSpellings('tls-cert-file', '/tls/cert.pem');
  const keySpellings = valueSpellings('tls-private-key-file', '/tls/key.pem');
  certSpellings.forEach((certArgs, i) => {
    const result = server(tt, ['server', ...certArgs, ...(keySpellings[i] ?? [])]);
    tt.equal(result.server.tlsCertFile, '/tls/cert.pem');
    tt.equal(result.server.tlsPrivateKeyFile, '/tls/key.pem');
  });
});

t.test('provider short alias -p', async (tt) => {
  for (const spelling of [['-p', 'google'], ['-p=google'], ['--p=google'], ['--p', 'google']]) {
    tt.equal(server(tt, ['server', ...spelling]).server.provider, 'google', spelling.join(' '));
  }
});

t.test('boolean --registry-skip-verify spellings', async (tt) => {
  const cases: Array<[string[], boolean]> = [
    [['--registry-skip-verify'], true],
    [['-registry-skip-verify'], true],
    [['--registry-skip-verify=true'], true],
    [['-registry-skip-verify=true'], true],
    [['--registry-skip-verify=1'], true],
    [['--registry-skip-verify=TRUE'], true],
    [['--registry-skip-verify=false'], false],
    [['-registry-skip-verify=false'], false],
    [['--registry-skip-verify=0'], false],
    [['--registry-skip-verify', '--registry-skip-verify=false'], false],
    [['--registry-skip-verify=false', '--registry-skip-verify'], true],
  ];
  for (const [args, expected] of cases) {
    tt.equal(server(tt, ['server', ...args]).server.registrySkipVerify, expected, args.join(' '));
  }
  usageError(tt, ['server', '--registry-skip-verify=maybe'], ['"maybe"', '--registry-skip-verify']);
  // A boolean flag never consumes the next word, as in Go.
  usageError(tt, ['server', '--registry-skip-verify', 'true'], ['"true"']);
});

t.test('global flags in every spelling', async (tt) => {
  for (const spelling of valueSpellings('log-level', 'error')) {
    tt.equal(server(tt, [...spelling, 'server']).global.logLevel, 'error', spelling.join(' '));
  }
  const jsonCases: Array<[string, boolean]> = [
    ['--json', true],
    ['-json', true],
    ['--json=true', true],
    ['-json=true', true],
    ['--json=yes', true],
    ['--json=false', false],
    ['-json=false', false],
    ['--json=no', false],
  ];
  for (const [arg, expected] of jsonCases) {
    tt.equal(server(tt, [arg, 'server']).global.json, expected, arg);
  }
  for (const level of ['debug', 'info', 'warning', 'error', 'fatal', 'panic'] as const) {
    tt.equal(server(tt, [`--log-level=${level}`, 'server']).global.logLevel, level);
  }
  // kube-secrets-init also accepts the upper-case spellings.
  tt.equal(server(tt, ['--log-level=WARNING', 'server']).global.logLevel, 'warning');
  tt.equal(server(tt, ['--log-level=warn', 'server']).global.logLevel, 'warning');
  tt.strictSame(server(tt, ['--log-level', 'debug', '--json', 'server']).global, { logLevel: 'debug', json: true });
});

t.test('LOG_LEVEL and LOG_JSON from the environment; flags win', async (tt) => {
  tt.strictSame(server(tt, ['server'], { LOG_LEVEL: 'debug', LOG_JSON: 'true' }).global, {
    logLevel: 'debug',
    json: true,
  });
  tt.equal(server(tt, ['server'], { LOG_LEVEL: 'PANIC' }).global.logLevel, 'panic');
  tt.equal(server(tt, ['server'], { LOG_LEVEL: '' }).global.logLevel, 'info', 'empty LOG_LEVEL means unset');
  for (const truthy of ['true', 'TRUE', 'True', '1', 'yes', 'YES']) {
    tt.equal(server(tt, ['server'], { LOG_JSON: truthy }).global.json, true, `LOG_JSON=${truthy}`);
  }
  for (const falsy of ['false', 'FALSE', '0', 'no', 'No', '']) {
    tt.equal(server(tt, ['server'], { LOG_JSON: falsy }).global.json, false, `LOG_JSON=${JSON.stringify(falsy)}`);
  }
  tt.equal(server(tt, ['--log-level=error', 'server'], { LOG_LEVEL: 'debug' }).global.logLevel, 'error');
  tt.equal(server(tt, ['--json=false', 'server'], { LOG_JSON: 'true' }).global.json, false);
  tt.equal(server(tt, ['--json', 'server'], { LOG_JSON: 'false' }).global.json, true);
  // A flag replaces the variable entirely, so a bad variable is not even looked at.
  tt.equal(server(tt, ['--log-level=info', 'server'], { LOG_LEVEL: 'verbose' }).global.logLevel, 'info');
  tt.equal(server(tt, ['--json', 'server'], { LOG_JSON: 'maybe' }).global.json, true);
  // Variables other than LOG_LEVEL / LOG_JSON are ignored.
  tt.strictSame(server(tt, ['server'], { PROVIDER: 'google', LISTEN_ADDRESS: ':1' }).server, SERVER_DEFAULTS);

  usageError(tt, ['server'], ['"verbose"', 'LOG_LEVEL'], { LOG_LEVEL: 'verbose' });
  usageError(tt, ['server'], ['"maybe"', 'LOG_JSON'], { LOG_JSON: 'maybe' });
});

t.test('the parser neither reads process.env nor writes to the console', async (tt) => {
  const saved = { LOG_LEVEL: process.env['LOG_LEVEL'], LOG_JSON: process.env['LOG_JSON'] };
  process.env['LOG_LEVEL'] = 'panic';
  process.env['LOG_JSON'] = 'true';
  const writes: string[] = [];
  const outWrite = process.stdout.write;
  const errWrite = process.stderr.write;
  const capture = (chunk: string | Uint8Array): boolean => {
    writes.push(String(chunk));
    return true;
  };
  process.stdout.write = capture as typeof process.stdout.write;
  process.stderr.write = capture as typeof process.stderr.write;
  let results: CommandLine[];
  try {
    results = [
      parse(['server']),
      parse(['--help']),
      parse(['server', '--help']),
      parse(['--version']),
      parse(['server', '--nope']),
      parse(['nope']),
    ];
  } finally {
    process.stdout.write = outWrite;
    process.stderr.write = errWrite;
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
  tt.strictSame(writes, [], 'nothing written to process.stdout/stderr');
  const first = results[0];
  tt.ok(first?.kind === 'server' && first.global.logLevel === 'info' && !first.global.json, 'process.env ignored');
  tt.strictSame(
    results.map((r) => (r.kind === 'exit' ? r.code : r.kind)),
    ['server', 0, 0, 0, 2, 2],
  );
});

t.test('repeated value flags: the last one wins', async (tt) => {
  tt.equal(server(tt, ['server', '--provider=google', '-p', 'aws']).server.provider, 'aws');
  tt.equal(server(tt, ['--log-level=debug', '--log-level=fatal', 'server']).global.logLevel, 'fatal');
});

t.test('empty optional values mean unset, as in the reference', async (tt) => {
  const result = server(tt, [
    'server',
    '--telemetry-listen-address=',
    '--tls-cert-file=',
    '--tls-private-key-file=',
    '--default-image-pull-secret=',
    '--default-image-pull-secret-namespace=',
  ]);
  tt.strictSame(result.server, SERVER_DEFAULTS);
});

t.test('hidden underscore aliases of the default image pull secret flags', async (tt) => {
  const alias = server(tt, [
    'server',
    '--default_image_pull_secret=regcred',
    '--default_image_pull_secret_namespace=infra',
  ]);
  tt.equal(alias.server.defaultImagePullSecret, 'regcred');
  tt.equal(alias.server.defaultImagePullSecretNamespace, 'infra');
  const both = server(tt, [
    'server',
    '--default-image-pull-secret=primary',
    '--default_image_pull_secret=fallback',
    '--default_image_pull_secret_namespace=other',
    '--default-image-pull-secret-namespace=main',
  ]);
  tt.equal(both.server.defaultImagePullSecret, 'primary', 'hyphenated spelling wins');
  tt.equal(both.server.defaultImagePullSecretNamespace, 'main', 'hyphenated spelling wins');
});

t.test('listen addresses', async (tt) => {
  const good: Array<[string, { host: string; port: number }]> = [
    [':8443', { host: '', port: 8443 }],
    ['0.0.0.0:8443', { host: '0.0.0.0', port: 8443 }],
    ['127.0.0.1:0', { host: '127.0.0.1', port: 0 }],
    ['localhost:8443', { host: 'localhost', port: 8443 }],
    ['webhook.example.com:443', { host: 'webhook.example.com', port: 443 }],
    ['[::1]:8443', { host: '::1', port: 8443 }],
    ['[::]:8443', { host: '::', port: 8443 }],
    [':65535', { host: '', port: 65535 }],
    [':0', { host: '', port: 0 }],
  ];
  for (const [text, expected] of good) {
    tt.strictSame(server(tt, ['server', `--listen-address=${text}`]).server.listenAddress, expected, text);
    tt.strictSame(
      server(tt, ['server', '--telemetry-listen-address', text]).server.telemetryListenAddress,
      expected,
      `telemetry ${text}`,
    );
  }
  const bad: Array<[string, string]> = [
    ['abc', 'missing port'],
    ['1.2.3.4', 'missing port'],
    ['localhost', 'missing port'],
    [':99999', '0 to 65535'],
    [':65536', '0 to 65535'],
    ['[::1', ']'],
    ['[::1]', 'missing port'],
    ['[::1]8443', 'missing port'],
    ['', 'empty'],
    [':', 'missing port'],
    ['127.0.0.1:', 'missing port'],
    [':http', '0 to 65535'],
    [':-1', '0 to 65535'],
    [':84 43', '0 to 65535'],
    ['::1:8443', 'brackets'],
    ['[localhost]:8443', 'IPv6'],
    ['300.1.2.3:80', '"300.1.2.3"'],
    ['bad host:80', '"bad host"'],
  ];
  for (const [text, reason] of bad) {
    usageError(tt, ['server', `--listen-address=${text}`], ['--listen-address', JSON.stringify(text), reason]);
  }
  usageError(tt, ['server', '--telemetry-listen-address', 'abc'], ['--telemetry-listen-address', '"abc"']);
});

t.test('lookup timeout', async (tt) => {
  const good: Array<[string, number]> = [
    ['500ms', 500],
    ['2s', 2000],
    ['1.5s', 1500],
    ['30s', 30000],
    ['0.5m', 30000],
    ['1s500ms', 1500],
    ['250000us', 250],
    ['250000µs', 250],
    ['1ns', 1],
    ['+3s', 3000],
  ];
  for (const [text, ms] of good) {
    tt.equal(server(tt, ['server', '--lookup-timeout', text]).server.lookupTimeoutMs, ms, text);
  }
  const bad: Array<[string, string]> = [
    ['2', 'missing unit'],
    ['0', 'greater than 0'],
    ['0s', 'greater than 0'],
    ['-1s', 'greater than 0'],
    ['31s', 'at most 30s'],
    ['30.001s', 'at most 30s'],
    ['1m30s', 'at most 30s'],
    ['1h', 'at most 30s'],
    ['2 s', 'missing unit'],
    ['abc', 'not a duration'],
    ['2sec', 'unknown unit'],
    ['', 'not a duration'],
    ['.s', 'not a duration'],
  ];
  for (const [text, reason] of bad) {
    usageError(tt, ['server', `--lookup-timeout=${text}`], ['--lookup-timeout', JSON.stringify(text), reason]);
  }
});

t.test('max request bytes', async (tt) => {
  const good: Array<[string, number]> = [
    ['1024', 1024],
    ['1Ki', 1024],
    ['5Mi', 5 * 1024 * 1024],
    ['64Mi', 64 * 1024 * 1024],
    ['65536Ki', 64 * 1024 * 1024],
    ['2K', 2000],
    ['10M', 10_000_000],
    ['67108864', 67108864],
  ];
  for (const [text, bytes] of good) {
    tt.equal(server(tt, ['server', '--max-request-bytes', text]).server.maxRequestBytes, bytes, text);
  }
  const bad: Array<[string, string]> = [
    ['1023', '1Ki'],
    ['1K', '1Ki'],
    ['0', '1Ki'],
    ['67108865', '64Mi'],
    ['65Mi', '64Mi'],
    ['5Gi', 'not a size'],
    ['5MB', 'not a size'],
    ['1.5Mi', 'not a size'],
    ['-1', 'not a size'],
    ['five', 'not a size'],
    ['', 'not a size'],
  ];
  for (const [text, reason] of bad) {
    usageError(tt, ['server', `--max-request-bytes=${text}`], ['--max-request-bytes', JSON.stringify(text), reason]);
  }
});

t.test('max connections', async (tt) => {
  for (const [text, count] of [['1', 1], ['100000', 100_000], ['4096', 4096]] as const) {
    tt.equal(server(tt, ['server', `--max-connections=${text}`]).server.maxConnections, count, text);
  }
  for (const text of ['0', '100001', '-1', '1.5', '1e3', 'many', '']) {
    usageError(tt, ['server', `--max-connections=${text}`], ['--max-connections', JSON.stringify(text), 'must be a whole number from 1 to 100000']);
  }
});

t.test('server value validation errors', async (tt) => {
  usageError(tt, ['server', '--provider=azure'], ['"azure"', '--provider', 'aws, google']);
  usageError(tt, ['server', '-p', 'AWS'], ['"AWS"', '--provider']);
  usageError(tt, ['server', '--pull-policy=Sometimes'], ['"Sometimes"', '--pull-policy', 'Always, IfNotPresent, Never']);
  usageError(tt, ['server', '--pull-policy=always'], ['"always"', '--pull-policy']);
  for (const text of ['0', '-1', '2147483648', '1.5', '1e3', 'root', 'Unset', '']) {
    usageError(tt, ['server', `--init-container-user=${text}`], [JSON.stringify(text), '--init-container-user', 'from 1 to 2147483647', 'or unset']);
  }
  tt.equal(server(tt, ['server', '--init-container-user=2147483647']).server.initContainerUser, 2147483647, 'the largest uid');
  usageError(tt, ['server', '--tls-cert-file=/c.pem'], ['--tls-cert-file', '--tls-private-key-file', 'only --tls-cert-file']);
  usageError(tt, ['server', '--tls-private-key-file=/k.pem'], ['together', 'only --tls-private-key-file']);
  usageError(tt, ['server', '--volume-name=Secrets_Bin'], ['"Secrets_Bin"', '--volume-name', 'DNS-1123']);
  usageError(tt, ['server', '--volume-name=-bin'], ['--volume-name']);
  usageError(tt, ['server', `--volume-name=${'a'.repeat(64)}`], ['--volume-name']);
  tt.equal(server(tt, ['server', `--volume-name=${'a'.repeat(63)}`]).server.volumeName, 'a'.repeat(63));
  usageError(tt, ['server', '--volume-path=helper/bin'], ['"helper/bin"', '--volume-path', 'absolute']);
  usageError(tt, ['server', '--volume-path=/helper:bin'], ['--volume-path', '":"']);
  usageError(tt, ['server', '--volume-path=/'], ['--volume-path', 'root']);
  usageError(tt, ['server', '--volume-path='], ['--volume-path']);
  usageError(tt, ['server', '--image='], ['--image']);
  usageError(tt, ['server', '--image=a b'], ['--image']);
  usageError(tt, ['server', '--docker-config-json-key='], ['--docker-config-json-key']);
  usageError(tt, ['server', '--docker-config-json-key=a/b'], ['--docker-config-json-key']);
  usageError(tt, ['server', '--default-image-pull-secret=Reg_Cred'], ['--default-image-pull-secret']);
  usageError(tt, ['server', '--default-image-pull-secret-namespace=a.b'], ['--default-image-pull-secret-namespace']);
  usageError(tt, ['server', '--default_image_pull_secret=Bad!'], ['--default_image_pull_secret']);
  // Values are quoted with escapes, so even a newline cannot break the one-line rule.
  usageError(tt, ['server', '--image=a\nb'], ['--image', '"a\\nb"']);
  usageError(tt, ['--log-level=verbose', 'server'], ['"verbose"', '--log-level']);
  usageError(tt, ['--log-level=', 'server'], ['--log-level']);
  usageError(tt, ['--json=maybe', 'server'], ['"maybe"', '--json']);
});

t.test('structural usage errors', async (tt) => {
  usageError(tt, [], ['missing command', 'server', 'certs']);
  usageError(tt, ['--log-level=debug'], ['missing command']);
  usageError(tt, ['serve'], ['unknown command', '"serve"']);
  usageError(tt, ['run', 'server'], ['unknown command', '"run"']);
  usageError(tt, ['server', 'extra'], ['unexpected argument', '"extra"']);
  usageError(tt, ['server', '--provider=aws', 'google'], ['unexpected argument', '"google"']);
  usageError(tt, ['server', '--', 'x'], ['unexpected argument', '"x"']);
  usageError(tt, ['certs', 'x'], ['unexpected argument', '"x"']);
  usageError(tt, ['server', '--bogus'], ['unknown flag', '"--bogus"', 'server']);
  usageError(tt, ['server', '-bogus=1'], ['unknown flag', '"-bogus"']);
  usageError(tt, ['--bogus', 'server'], ['unknown flag', '"--bogus"']);
  const typo = usageError(tt, ['server', '--lisen-address=:1'], ['"--lisen-address"', 'did you mean --listen-address']);
  tt.notOk(typo.includes(':1'), 'the value of an unknown flag is not echoed');
  usageError(tt, ['server', '--log-level=debug'], ['"--log-level"', 'global flag', 'before the command']);
  usageError(tt, ['server', '--json'], ['"--json"', 'before the command']);
  usageError(tt, ['--provider=google', 'server'], ['"--provider"', 'after the server command']);
  usageError(tt, ['certs', '--provider=google'], ['"--provider"', 'certs']);
  usageError(tt, ['server', '-v'], ['unknown flag', '"-v"']);
  usageError(tt, ['server', '--no-registry-skip-verify'], ['unknown flag']);
  usageError(tt, ['--no-json', 'server'], ['unknown flag']);
  usageError(tt, ['server', '--image'], ['missing value', '--image']);
  usageError(tt, ['--log-level'], ['missing value', '--log-level']);
  usageError(tt, ['server', '---image=x'], ['bad flag syntax']);
  usageError(tt, ['help', 'bogus'], ['"bogus"']);
  usageError(tt, ['help', 'server', 'extra'], ['"extra"']);
  // Go's flag package reports the first problem and never reaches a later --help.
  usageError(tt, ['server', '--bogus', '--help'], ['"--bogus"']);
});

t.test('a value flag takes the next word even if it looks like a flag (as in Go)', async (tt) => {
  tt.equal(server(tt, ['server', '--tls-cert-file', '-c', '--tls-private-key-file', '-k']).server.tlsCertFile, '-c');
  usageError(tt, ['server', '--listen-address', '--help'], ['--listen-address', '"--help"']);
  tt.equal(server(tt, ['--', 'server']).server.provider, 'aws', '"--" ends the global flags');
});

const GLOBAL_FLAG_NAMES = ['--log-level', '--json', '--help', '--version', 'LOG_LEVEL', 'LOG_JSON'];
const SERVER_FLAG_NAMES = [
  '--listen-address',
  '--telemetry-listen-address',
  '--tls-cert-file',
  '--tls-private-key-file',
  '--image',
  '--pull-policy',
  '--init-container-user',
  '--registry-skip-verify',
  '--docker-config-json-key',
  '--default-image-pull-secret',
  '--default-image-pull-secret-namespace',
  '--volume-name',
  '--volume-path',
  '--provider',
  '-p,',
  '--lookup-timeout',
  '--max-request-bytes',
  '--shutdown-drain',
  '--shutdown-timeout',
];
const SERVER_DEFAULT_TEXTS = [
  ':8443',
  'ghcr.io/doitintl/secrets-init:0.5.3',
  'IfNotPresent',
  '.dockerconfigjson',
  'secrets-init-bin',
  '/helper/bin',
  '(default: aws)',
  '(default: 2s)',
  '(default: 2Mi)',
  '(default: 5s in a Kubernetes pod (KUBERNETES_SERVICE_HOST set), 0 elsewhere)',
  '(default: 10s)',
];
const CERTS_FLAG_NAMES = ['--service', '--namespace', '--out', '--host', '--days'];
const CERTS_DEFAULT_TEXTS = ['secrets-init-webhook)', 'secrets-init)', '(default: certs)', 'localhost,127.0.0.1', '365'];

/** Help text with line wrapping undone, so wrapped descriptions can be matched. */
function flat(text: string): string {
  return text.replace(/\s+/g, ' ');
}

function includesAll(tt: Tap, text: string, needles: readonly string[], what: string): void {
  for (const needle of needles) tt.ok(flat(text).includes(needle), `${what} mentions ${needle}`);
}

t.test('root help', async (tt) => {
  for (const argv of [['--help'], ['-h'], ['-help'], ['help'], ['h'], ['--json', '--help'], ['--help', 'server', '--bogus']]) {
    const text = informational(tt, argv);
    includesAll(tt, text, GLOBAL_FLAG_NAMES, argv.join(' '));
    includesAll(tt, text, ['server', 'certs', 'admission webhook', 'secrets-init', 'CA bundle'], argv.join(' '));
    tt.match(flat(text), /--log-level <level> [^()]*\(default: info, env: LOG_LEVEL\)/);
    tt.match(flat(text), /--json [^()]*\(default: false, env: LOG_JSON\)/);
  }
});

t.test('server help', async (tt) => {
  for (const argv of [['server', '--help'], ['server', '-h'], ['help', 'server'], ['server', '--provider=azure', '--help']]) {
    const text = informational(tt, argv);
    includesAll(tt, text, SERVER_FLAG_NAMES, argv.join(' '));
    includesAll(tt, text, SERVER_DEFAULT_TEXTS, argv.join(' '));
    includesAll(tt, text, ['--log-level', '--json'], `${argv.join(' ')} (global flags)`);
    tt.notOk(text.includes('default_image_pull_secret'), 'hidden aliases are not listed');
    tt.notOk(text.includes('--no-'), 'internal negations are not listed');
    tt.notOk(text.includes('--service'), 'certs flags are not listed');
  }
});

t.test('certs help', async (tt) => {
  for (const argv of [['certs', '--help'], ['help', 'certs']]) {
    const text = informational(tt, argv);
    includesAll(tt, text, CERTS_FLAG_NAMES, argv.join(' '));
    includesAll(tt, text, CERTS_DEFAULT_TEXTS, argv.join(' '));
    tt.notOk(text.includes('--listen-address'), 'server flags are not listed');
  }
});

t.test('version', async (tt) => {
  for (const argv of [['--version'], ['-v'], ['-version'], ['--version=true'], ['--json', '-v', 'bogus']]) {
    tt.equal(informational(tt, argv), `secrets-init-webhook ${VERSION}\n`, argv.join(' '));
  }
  tt.strictSame(parseCommandLine(['--version'], {}, '1.2.3'), {
    kind: 'exit',
    code: 0,
    stdout: 'secrets-init-webhook 1.2.3\n',
    stderr: '',
  });
  tt.equal(server(tt, ['--version=false', 'server']).server.provider, 'aws', '--version=false is a no-op');
});

t.test('certs defaults and flags', async (tt) => {
  const defaults = certs(tt, ['certs']);
  tt.strictSame(defaults.global, { logLevel: 'info', json: false });
  tt.strictSame(defaults.certs, {
    service: 'secrets-init-webhook',
    namespace: 'secrets-init',
    out: 'certs',
    hosts: ['localhost', '127.0.0.1'],
    days: 365,
  });

  const cases: Array<[string, string, Partial<CertsOptions>]> = [
    ['service', 'kube-secrets-init', { service: 'kube-secrets-init' }],
    ['namespace', 'kube-system', { namespace: 'kube-system' }],
    ['out', '/tmp/webhook-certs', { out: '/tmp/webhook-certs' }],
    ['host', 'webhook.example.com', { hosts: ['webhook.example.com'] }],
    ['days', '30', { days: 30 }],
  ];
  for (const [name, value, expected] of cases) {
    for (const spelling of valueSpellings(name, value)) {
      tt.strictSame(certs(tt, ['certs', ...spelling]).certs, { ...defaults.certs, ...expected }, spelling.join(' '));
    }
  }

  tt.strictSame(certs(tt, ['certs', '--host', 'localhost', '--host', '127.0.0.1', '--host', '::1']).certs.hosts, [
    'localhost',
    '127.0.0.1',
    '::1',
  ]);
  tt.strictSame(certs(tt, ['certs', '--host=a.example', '--host=b.example,10.0.0.1', '--host', 'a.example']).certs.hosts, [
    'a.example',
    'b.example',
    '10.0.0.1',
  ]);
  tt.strictSame(certs(tt, ['certs', '--host=[::1]', '--host=*.example.com']).certs.hosts, ['::1', '*.example.com']);
  tt.strictSame(certs(tt, ['--json', '--log-level=debug', 'certs']).global, { logLevel: 'debug', json: true });
  tt.equal(certs(tt, ['certs', '--days=3650']).certs.days, 3650);
  tt.equal(certs(tt, ['certs', '--days=1']).certs.days, 1);

  usageError(tt, ['certs', '--days=0'], ['--days', '"0"']);
  usageError(tt, ['certs', '--days=3651'], ['--days', '"3651"']);
  usageError(tt, ['certs', '--days=1.5'], ['--days']);
  usageError(tt, ['certs', '--days=ten'], ['--days']);
  tt.strictSame(certs(tt, ['certs', '--host=']).certs.hosts, [], '--host= means no extra names');
  tt.strictSame(certs(tt, ['certs', '--host=', '--host=example.org']).certs.hosts, ['example.org']);
  usageError(tt, ['certs', '--host=a,'], ['--host']);
  usageError(tt, ['certs', '--host=a,,b'], ['--host']);
  usageError(tt, ['certs', '--host=bad host'], ['--host', '"bad host"']);
  // A zone index names an interface of one machine: no certificate can hold it (it used to end in "Invalid URL", exit 1).
  usageError(tt, ['certs', '--host=fe80::1%eth0'], ['--host', '"fe80::1%eth0"']);
  usageError(tt, ['certs', '--host=[fe80::1%25eth0]'], ['--host']);
  usageError(tt, ['certs', '--service=1webhook'], ['--service']);
  usageError(tt, ['certs', '--service=Webhook'], ['--service']);
  usageError(tt, ['certs', '--namespace=kube_system'], ['--namespace']);
  usageError(tt, ['certs', '--out='], ['--out']);
  usageError(tt, ['certs', '--host'], ['missing value', '--host']);
  usageError(tt, ['certs', '--listen-address=:1'], ['unknown flag', '"--listen-address"']);
});

t.test('registry flags', async (tt) => {
  const result = server(tt, [
    'server',
    '--registry-ca-file=/etc/ca/registries.pem',
    '--insecure-registries', 'registry.local:5000, 10.0.0.7 ,[::1]:5000',
    '--registry-timeout=1500ms',
    '--image-cache-ttl=0',
    '--default-architecture=arm64',
  ]).server;
  tt.equal(result.registryCaFile, '/etc/ca/registries.pem');
  tt.strictSame(result.insecureRegistries, ['registry.local:5000', '10.0.0.7', '[::1]:5000']);
  tt.equal(result.registryTimeoutMs, 1500);
  tt.equal(result.imageCacheTtlMs, 0, 'zero turns tag caching off');
  tt.equal(result.defaultArchitecture, 'arm64');
  tt.equal(server(tt, ['server', '--image-cache-ttl=24h']).server.imageCacheTtlMs, 86_400_000);
  usageError(tt, ['server', '--registry-timeout=0s'], ['--registry-timeout', 'greater than 0']);
  usageError(tt, ['server', '--registry-timeout=31s'], ['--registry-timeout', 'at most 30s']);
  usageError(tt, ['server', '--image-cache-ttl=25h'], ['--image-cache-ttl', 'at most 24h']);
  usageError(tt, ['server', '--image-cache-ttl=-1m'], ['--image-cache-ttl', 'must not be negative']);
  usageError(tt, ['server', '--insecure-registries=good.example,https://bad.example'], ['--insecure-registries', 'https://bad.example']);
  usageError(tt, ['server', '--default-architecture=ARM 64'], ['--default-architecture']);
});

t.test('shutdown flags', async (tt) => {
  const inPod = { KUBERNETES_SERVICE_HOST: '10.96.0.1' };
  tt.equal(server(tt, ['server'], inPod).server.shutdownDrainMs, 5_000, 'drain defaults to 5s in a Kubernetes pod');
  tt.equal(server(tt, ['server'], { KUBERNETES_SERVICE_HOST: '' }).server.shutdownDrainMs, 0, 'an empty KUBERNETES_SERVICE_HOST is not a pod');
  tt.equal(server(tt, ['server']).server.shutdownDrainMs, 0, 'and to 0 elsewhere');
  tt.equal(server(tt, ['server', '--shutdown-drain=0'], inPod).server.shutdownDrainMs, 0, 'an explicit 0 wins in a pod');
  tt.equal(server(tt, ['server', '--shutdown-drain=20s']).server.shutdownDrainMs, 20_000, 'an explicit value wins outside a pod');
  tt.equal(server(tt, ['server', '--shutdown-drain=60s']).server.shutdownDrainMs, 60_000);
  tt.equal(server(tt, ['server', '--shutdown-drain=1.5s']).server.shutdownDrainMs, 1_500);
  tt.equal(server(tt, ['server', '--shutdown-drain=1us']).server.shutdownDrainMs, 1, 'sub-millisecond rounds up');
  tt.equal(server(tt, ['server'], inPod).server.shutdownTimeoutMs, 10_000);
  tt.equal(server(tt, ['server', '--shutdown-timeout=250ms']).server.shutdownTimeoutMs, 250);
  tt.equal(server(tt, ['server', '-shutdown-timeout', '60s']).server.shutdownTimeoutMs, 60_000);
  usageError(tt, ['server', '--shutdown-drain=61s'], ['--shutdown-drain', '"61s"', 'at most 60s']);
  usageError(tt, ['server', '--shutdown-drain=-1s'], ['--shutdown-drain', 'must not be negative']);
  usageError(tt, ['server', '--shutdown-drain=5'], ['--shutdown-drain', '"5"']);
  usageError(tt, ['server', '--shutdown-drain='], ['--shutdown-drain']);
  usageError(tt, ['server', '--shutdown-drain'], ['missing value', '--shutdown-drain']);
  usageError(tt, ['server', '--shutdown-timeout=0'], ['--shutdown-timeout', 'greater than 0']);
  usageError(tt, ['server', '--shutdown-timeout=2m'], ['--shutdown-timeout', 'at most 60s']);
  usageError(tt, ['--shutdown-drain=1s', 'server'], ['--shutdown-drain', 'after the server command']);
  usageError(tt, ['certs', '--shutdown-timeout=1s'], ['unknown flag', '"--shutdown-timeout"']);
});

t.test('self-bootstrap flags', async (tt) => {
  const plain = server(tt, ['server']).server;
  tt.notOk('selfBootstrap' in plain, 'off unless asked for');
  tt.strictSame(server(tt, ['server', '--self-bootstrap']).server.selfBootstrap, {
    secret: 'secrets-init-webhook-tls',
    webhookConfiguration: 'secrets-init-webhook',
    service: 'secrets-init-webhook',
  });
  tt.strictSame(
    server(tt, ['server', '--self-bootstrap', '--bootstrap-secret=tls', '--webhook-configuration', 'mwc', '--bootstrap-service=svc', '--bootstrap-namespace=ops']).server.selfBootstrap,
    { secret: 'tls', webhookConfiguration: 'mwc', service: 'svc', namespace: 'ops' },
  );
  usageError(tt, ['server', '--self-bootstrap', '--tls-cert-file=c', '--tls-private-key-file=k'], ['--self-bootstrap', '--tls-cert-file']);
  usageError(tt, ['server', '--self-bootstrap', '--bootstrap-secret=Bad_Name'], ['--bootstrap-secret']);
  usageError(tt, ['server', '--self-bootstrap', '--bootstrap-namespace=a.b'], ['--bootstrap-namespace']);
  // The certificate's DNS names start with the Service name: a label, not a dotted subdomain.
  usageError(tt, ['server', '--self-bootstrap', '--bootstrap-service=a.b'], ['--bootstrap-service', 'a.b', 'Service name']);
  usageError(tt, ['server', '--self-bootstrap', '--bootstrap-service=1svc'], ['--bootstrap-service']);
});

t.test('secrets-init runtime flags', async (tt) => {
  tt.strictSame(server(tt, ['server', '--exit-early']).server.runtime, { exitEarly: true });
  tt.strictSame(server(tt, ['server', '--exit-early=false']).server.runtime, { exitEarly: false });
  for (const spelling of valueSpellings('google-project', 'my-project')) {
    tt.strictSame(server(tt, ['server', ...spelling]).server.runtime, { exitEarly: false, googleProject: 'my-project' }, spelling.join(' '));
  }
  for (const format of ['text', 'json'] as const) {
    tt.strictSame(server(tt, ['server', `--secrets-init-log-format=${format}`]).server.runtime, { exitEarly: false, logFormat: format });
  }
  tt.strictSame(
    server(tt, ['server', '--exit-early', '--google-project=example.com:team-project', '--secrets-init-log-format', 'json']).server.runtime,
    { exitEarly: true, googleProject: 'example.com:team-project', logFormat: 'json' },
  );
  tt.strictSame(server(tt, ['server', '--google-project=', '--secrets-init-log-format=']).server.runtime, { exitEarly: false }, 'empty means unset');
  usageError(tt, ['server', '--secrets-init-log-format=xml'], ['"xml"', '--secrets-init-log-format', 'text, json']);
  usageError(tt, ['server', '--google-project=My_Project'], ['"My_Project"', '--google-project', 'project ID']);
  usageError(tt, ['server', '--exit-early=maybe'], ['--exit-early']);
});

t.test('runtime flags the --image release predates are startup errors', async (tt) => {
  usageError(tt, ['server', '--image=ghcr.io/doitintl/secrets-init:0.4.7', '--exit-early'], ['--exit-early: secrets-init --exit-early needs release 0.4.8 or later', 'ghcr.io/doitintl/secrets-init:0.4.7 is older']);
  usageError(tt, ['server', '--image=registry:5000/secrets-init:0.4.7', '--google-project=my-project'], ['--google-project', '0.4.8']);
  usageError(tt, ['server', '--image=secrets-init:0.4.4', '--secrets-init-log-format=json'], ['--secrets-init-log-format: secrets-init --log-format needs release 0.4.5']);
  tt.strictSame(server(tt, ['server', '--image=secrets-init:0.4.5', '--secrets-init-log-format=json']).server.runtime, { exitEarly: false, logFormat: 'json' });
  tt.strictSame(server(tt, ['server', '--image=registry:5000/secrets-init', '--exit-early']).server.runtime, { exitEarly: true }, 'no tag: current');
  tt.strictSame(server(tt, ['server', `--image=secrets-init@sha256:${'b'.repeat(64)}`, '--exit-early']).server.runtime, { exitEarly: true }, 'digest: current');
  tt.strictSame(server(tt, ['server', '--image=secrets-init:0.4.0', '--exit-early=false']).server.runtime, { exitEarly: false }, 'an option turned off needs nothing');
  usageError(tt, ['server', '--image=Secrets-Init:!'], ['--image', 'image reference']);
});

t.test('--supervisor-command adds to Argo\'s executor; repeatable', async (tt) => {
  const argo = ['/var/run/argo/argoexec', 'emissary', '--'];
  tt.strictSame(server(tt, ['server']).server.supervisors, [argo]);
  tt.strictSame(server(tt, ['server', '--supervisor-command', '/sbin/tini --', '--supervisor-command=dumb-init --single-child --']).server.supervisors, [
    argo,
    ['/sbin/tini', '--'],
    ['dumb-init', '--single-child', '--'],
  ]);
  usageError(tt, ['server', '--supervisor-command=/sbin/tini'], ['--supervisor-command', 'ending with "--"']);
  usageError(tt, ['server', '--supervisor-command=run $(X) --'], ['--supervisor-command', 'must not contain "$"']);
});

t.test('--volume-path must not contain $, which the kubelet would expand in command', async (tt) => {
  usageError(tt, ['server', '--volume-path=/opt/$(X)'], ['--volume-path', 'must not contain "$"']);
});

t.test('--help says what --provider does and lists the new flags', async (tt) => {
  const help = informational(tt, ['server', '--help']).replace(/\s+/g, ' ');
  tt.match(help, /--provider <name> accepted for compatibility with kube-secrets-init \(aws or google\) and has no effect/);
  for (const flag of ['--exit-early', '--google-project <id>', '--secrets-init-log-format <format>', '--supervisor-command <words>']) tt.ok(help.includes(flag), flag);
});

t.test('--object-cache-ttl: a duration from 0 to 5m', async (tt) => {
  tt.equal(server(tt, ['server', '--object-cache-ttl=0']).server.objectCacheTtlMs, 0);
  tt.equal(server(tt, ['server', '--object-cache-ttl', '1m']).server.objectCacheTtlMs, 60_000);
  usageError(tt, ['server', '--object-cache-ttl=6m'], ['--object-cache-ttl', 'at most 5m']);
  usageError(tt, ['server', '--object-cache-ttl=-1s'], ['--object-cache-ttl']);
});

t.test('each flag shows one default in help', async (tt) => {
  for (const command of ['server', 'certs', 'inject', 'audit']) {
    const text = informational(tt, [command, '--help']).replace(/\s+/g, ' ');
    tt.notMatch(text, /\(default: [^)]*\) \(default:/, `${command} --help`);
  }
});

t.test('each whole-number flag states its range in help, and the range is the one enforced', async (tt) => {
  const required: Record<string, string[]> = { inject: ['-f', '-'] };
  for (const command of ['server', 'certs', 'inject', 'audit']) {
    const help = informational(tt, [command, '--help']).replace(/\s+/g, ' ');
    for (const [, name] of help.matchAll(/ --([a-z-]+) <n> /g)) {
      const entry = new RegExp(` --${name} <n> (.*?) \\(default: `).exec(help)?.[1] ?? '';
      const range = /1 to (\d+)/.exec(entry);
      tt.ok(range, `${command} --${name}: "${entry}" states a range`);
      if (range === null) continue;
      const max = Number(range[1]);
      const argv = (value: number) => [command, ...(required[command] ?? []), `--${name}=${value}`];
      tt.not(parse(argv(max)).kind, 'exit', `${command} --${name}=${max} is accepted`);
      tt.not(parse(argv(1)).kind, 'exit', `${command} --${name}=1 is accepted`);
      usageError(tt, argv(max + 1), [`--${name}`]);
      usageError(tt, argv(0), [`--${name}`]);
    }
  }
});
