/**
 * Realistic pods beyond a plain Deployment, through the built server over HTTPS: image
 * commands with `$` read from a REAL registry, Argo steps, native sidecars, interactive,
 * Windows and probed pods, and secrets-init's runtime options as flags and annotations.
 * Each answer is applied as the API server would, and the process the kubelet would
 * start (command + args, after its `$` expansion) is compared with what the image or
 * the container would have run.
 */
import t from 'tap';
import { makeTestCertificates } from '../helpers/certs.js';
import { kubeletProcess } from '../helpers/kubelet.js';
import { pushImage, startRegistry } from '../helpers/registry.js';
import { startStubApiServer } from '../helpers/stub-apiserver.js';
import { runCli, startWebhook } from '../helpers/webhook-process.js';
import type { RunningWebhook } from '../helpers/webhook-process.js';
import { containerNamed, parseAnswer, patchedPod, postReview, reviewOf } from './fixtures/support.js';
import type { Container, Pod, ReviewAnswer } from './fixtures/support.js';

const NS = 'pipelines';
const AWS_REF = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:warehouse-password-Q1w2E3';
const GCP_REF = 'gcp:secretmanager:projects/shop-prod/secrets/bq-key/versions/latest';
const WRAPPER = '/helper/bin/secrets-init';
const ARGO = ['/var/run/argo/argoexec', 'emissary', '--'];

const certs = await makeTestCertificates('ec-pkcs8');
t.teardown(certs.cleanup);
const tls = { ca: certs.caPem };

const registry = await startRegistry();
t.teardown(() => registry.close());
/** A shell image whose CMD is full of `$` that only the shell may expand. */
const SHELL_IMAGE = { entrypoint: ['/bin/sh', '-c'], cmd: ['echo "home=$HOME user=$(whoami) pid=$$ price=5$" && exec /app --host=$(HOSTNAME)'] };
const TINI_IMAGE = { entrypoint: ['/sbin/tini', '--'], cmd: ['/app', '--home=$HOME', '--id=$(POD_ID)'] };
await pushImage(registry, 'team/shell', '1.0', SHELL_IMAGE);
await pushImage(registry, 'team/tini', '1.0', TINI_IMAGE);
const SHELL = `${registry.host}/team/shell:1.0`;
const TINI = `${registry.host}/team/tini:1.0`;

const stub = await startStubApiServer();
t.teardown(() => stub.close());
stub.addSecret(NS, 'warehouse', { password: AWS_REF, user: 'loader' });
stub.addConfigMap(NS, 'bigquery', { key: GCP_REF });

function start(extra: string[]): Promise<RunningWebhook> {
  const args = ['--log-level=debug', 'server', `--tls-cert-file=${certs.certFile}`, `--tls-private-key-file=${certs.keyFile}`, `--insecure-registries=${registry.host}`, ...extra];
  return startWebhook(args, { KUBECONFIG: stub.kubeconfigPath }, { t, readyTimeoutMs: 60_000 });
}

// The reference's flags (plus the test registry), every new option, and an old secrets-init image.
const [plain, optioned, old] = await Promise.all([
  start([]),
  start(['--exit-early', '--google-project=shop-prod', '--secrets-init-log-format=json', '--supervisor-command', '/sbin/tini --']),
  start(['--image=ghcr.io/doitintl/secrets-init:0.4.5', '--provider=google']),
]);

async function decide(hook: RunningWebhook, pod: Pod): Promise<ReviewAnswer> {
  const result = await postReview(hook.url, reviewOf(pod, NS), tls);
  t.equal(result.status, 200, 'HTTP 200');
  return parseAnswer(result);
}

/** Admits the pod and returns it as the API server would store it. */
async function admitted(hook: RunningWebhook, pod: Pod): Promise<{ pod: Pod; answer: ReviewAnswer }> {
  const answer = await decide(hook, pod);
  if (answer.response.allowed !== true) throw new Error(`denied: ${JSON.stringify(answer.response.status)}`);
  return { pod: patchedPod(reviewOf(pod, NS).request.object!, answer), answer };
}

/** The values the kubelet would give the container's variables (references stay raw: secrets-init resolves them later). */
function lookupIn(container: Container): (name: string) => string | undefined {
  const values = new Map<string, string>();
  for (const variable of container.env ?? []) if (typeof variable['value'] === 'string') values.set(String(variable['name']), variable['value']);
  return (name) => values.get(name);
}

const secretKey = (variable: string, name: string, key: string) => ({ name: variable, valueFrom: { secretKeyRef: { name, key } } });

t.test('$ in the image CMD: the kubelet starts exactly what the image would run', async (t) => {
  const app: Container = {
    name: 'loader',
    image: SHELL,
    env: [secretKey('DB_PASSWORD', 'warehouse', 'password'), { name: 'HOSTNAME', value: 'loader-7f9' }, { name: 'HOME', value: '/data' }],
  };
  const own: Container = { name: 'own', image: SHELL, args: ['echo $(HOSTNAME) $$HOME'], env: [{ name: 'HOSTNAME', value: 'own-1' }, { name: 'T', value: AWS_REF }] };
  const { pod } = await admitted(plain, { metadata: { name: 'loader' }, spec: { containers: [app, own] } });
  const loader = containerNamed(pod, 'loader')!;
  t.same(kubeletProcess(loader, lookupIn(loader)), [WRAPPER, '--provider=aws', ...SHELL_IMAGE.entrypoint, ...SHELL_IMAGE.cmd], 'ENTRYPOINT + CMD reach secrets-init untouched');
  const ownAfter = containerNamed(pod, 'own')!;
  t.same(kubeletProcess(ownAfter, lookupIn(ownAfter)), [WRAPPER, '--provider=aws', '/bin/sh', '-c', 'echo own-1 $HOME'], "the container's own args are expanded as they always were");
});

t.test('an Argo step: secrets-init runs under the executor, and reinvocation changes nothing', async (t) => {
  // The pod as Argo's workflow controller (emissary executor) creates it for a script step.
  const argoPod: Pod = {
    metadata: {
      name: 'nightly-load-1234567890',
      labels: { 'workflows.argoproj.io/workflow': 'nightly-load', 'workflows.argoproj.io/completed': 'false' },
      annotations: { 'workflows.argoproj.io/node-name': 'nightly-load[0].load' },
    },
    spec: {
      initContainers: [{ name: 'init', image: 'quay.io/argoproj/argoexec:v3.6.2', command: ['argoexec', 'init', '--loglevel', 'info'], env: [{ name: 'ARGO_POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }], volumeMounts: [{ name: 'var-run-argo', mountPath: '/var/run/argo' }] }],
      containers: [
        { name: 'wait', image: 'quay.io/argoproj/argoexec:v3.6.2', command: ['argoexec', 'wait', '--loglevel', 'info'], env: [{ name: 'ARGO_CONTAINER_NAME', value: 'wait' }], volumeMounts: [{ name: 'var-run-argo', mountPath: '/var/run/argo' }] },
        {
          name: 'main',
          image: 'python:3.12-slim',
          command: [...ARGO, 'python', '/argo/staging/script'],
          args: ['--day', '$(RUN_DAY)'],
          env: [{ name: 'ARGO_CONTAINER_NAME', value: 'main' }, { name: 'RUN_DAY', value: '2026-11-26' }, secretKey('WAREHOUSE_PASSWORD', 'warehouse', 'password')],
          volumeMounts: [{ name: 'var-run-argo', mountPath: '/var/run/argo' }],
        },
      ],
      volumes: [{ name: 'var-run-argo', emptyDir: {} }],
      restartPolicy: 'Never',
    },
  };
  const { pod } = await admitted(plain, argoPod);
  const main = containerNamed(pod, 'main')!;
  t.same(main.command, [...ARGO, WRAPPER]);
  t.same(kubeletProcess(main, lookupIn(main)), [...ARGO, WRAPPER, '--provider=aws', 'python', '/argo/staging/script', '--day', '2026-11-26']);
  t.same(containerNamed(pod, 'wait'), argoPod.spec.containers[0], 'the wait container is untouched');
  t.same(containerNamed(pod, 'init'), argoPod.spec.initContainers![0], "Argo's init container is untouched");
  t.same(pod.spec.initContainers!.map((c) => c.name), ['copy-secrets-init', 'init']);
  const again = await decide(plain, pod);
  t.same(again.response, { uid: again.response.uid, allowed: true }, 'the injected pod needs nothing more');
});

t.test('native sidecars are wrapped in place; restartPolicy and probes stay', async (t) => {
  const proxy: Container = {
    name: 'bq-proxy',
    image: 'registry.example.com/bq-proxy:2.1',
    command: ['/proxy', '--listen=:9000'],
    restartPolicy: 'Always',
    env: [{ name: 'BQ_KEY', valueFrom: { configMapKeyRef: { name: 'bigquery', key: 'key' } } }],
    startupProbe: { tcpSocket: { port: 9000 }, periodSeconds: 1 },
  };
  const migrate: Container = { name: 'migrate', image: 'registry.example.com/migrate:5', command: ['/migrate', 'up'], env: [secretKey('DB_PASSWORD', 'warehouse', 'password')] };
  const logs: Container = { name: 'logs', image: 'fluent/fluent-bit:3.1', restartPolicy: 'Always', command: ['/fluent-bit/bin/fluent-bit'] };
  const { pod } = await admitted(plain, { metadata: { name: 'etl' }, spec: { initContainers: [logs, proxy, migrate], containers: [{ name: 'app', image: 'registry.example.com/app:1', command: ['/app'] }] } });
  t.same(pod.spec.initContainers!.map((c) => c.name), ['copy-secrets-init', 'logs', 'bq-proxy', 'migrate']);
  const proxyAfter = containerNamed(pod, 'bq-proxy')!;
  t.same(proxyAfter.command, [WRAPPER]);
  t.same(proxyAfter.args, ['--provider=google', '/proxy', '--listen=:9000']);
  t.equal(proxyAfter['restartPolicy'], 'Always');
  t.same(proxyAfter['startupProbe'], proxy['startupProbe']);
  t.same(containerNamed(pod, 'logs'), logs, 'a sidecar without references is untouched');
  t.same(containerNamed(pod, 'migrate')!.args, ['--provider=aws', '/migrate', 'up']);
  t.same(JSON.parse(pod.metadata!.annotations!['secrets-init/status']!), { containers: [], initContainers: ['bq-proxy', 'migrate'] });
});

t.test('interactive pods (stdin and tty) get --interactive; without tty, or with an image before 0.5.1, it is left out with a warning', async (t) => {
  const shell = (): Pod => ({ metadata: { name: 'debug' }, spec: { containers: [{ name: 'psql', image: 'postgres:16', command: ['psql'], stdin: true, tty: true, env: [{ name: 'PGPASSWORD', value: AWS_REF }] }] } });
  const current = await admitted(plain, shell());
  t.same(containerNamed(current.pod, 'psql')!.args, ['--provider=aws', '--interactive', 'psql']);
  const older = await admitted(old, shell());
  t.same(containerNamed(older.pod, 'psql')!.args, ['--provider=aws', 'psql'], 'left out; and --provider=google on the command line changes nothing');
  t.match(older.answer.response.warnings?.join('\n') ?? '', /container "psql" has stdin: true, but the injected secrets-init \(ghcr\.io\/doitintl\/secrets-init:0\.4\.5\) predates --interactive \(0\.5\.1\)/);
  const attached = shell();
  delete attached.spec.containers[0]!['tty'];
  const noTerminal = await admitted(plain, attached);
  t.same(containerNamed(noTerminal.pod, 'psql')!.args, ['--provider=aws', 'psql'], 'stdin without tty: no --interactive, which would fail without a terminal');
  t.match(noTerminal.answer.response.warnings?.join('\n') ?? '', /container "psql" has stdin: true without tty: true: .*the app starts without stdin/);
});

t.test('a Windows pod that needs secrets is denied with what to do; one that does not is admitted', async (t) => {
  const windows = (env: Array<Record<string, unknown>>): Pod => ({
    metadata: { name: 'iis' },
    spec: { os: { name: 'windows' }, nodeSelector: { 'kubernetes.io/os': 'windows' }, containers: [{ name: 'web', image: 'mcr.microsoft.com/windows/servercore/iis', command: ['C:\\ServiceMonitor.exe', 'w3svc'], env }] },
  });
  const answer = await decide(plain, windows([secretKey('DB_PASSWORD', 'warehouse', 'password')]));
  t.equal(answer.response.allowed, false);
  t.equal(answer.response.status?.code, 403);
  t.match(answer.response.status?.message, /pod pipelines\/iis: the pod runs on Windows, and secrets-init runs on Linux only: resolve its secrets another way/);
  const free = await decide(plain, windows([{ name: 'MODE', value: 'prod' }]));
  t.same(free.response, { uid: free.response.uid, allowed: true });
});

t.test('exec probes and hooks: a warning by default; wrapped with secrets-init/wrap-exec', async (t) => {
  const probed = (annotations: Record<string, string> = {}): Pod => ({
    metadata: { name: 'api', annotations },
    spec: {
      containers: [{
        name: 'api',
        image: 'registry.example.com/api:3',
        command: ['/api'],
        env: [secretKey('DB_PASSWORD', 'warehouse', 'password')],
        readinessProbe: { exec: { command: ['sh', '-c', 'pg_isready --password="$DB_PASSWORD"'] }, periodSeconds: 5 },
        lifecycle: { preStop: { exec: { command: ['/bin/drain'] } } },
      }],
    },
  });
  const warned = await admitted(plain, probed());
  t.same(warned.answer.response.warnings?.length, 1);
  t.match(warned.answer.response.warnings?.[0], /^container "api": the readinessProbe uses DB_PASSWORD, which holds a secret reference; .*secrets-init\/wrap-exec: "true"/);
  t.same(containerNamed(warned.pod, 'api')!['readinessProbe'], probed().spec.containers[0]!['readinessProbe']);

  const wrapped = await admitted(optioned, probed({ 'secrets-init/wrap-exec': 'true' }));
  t.same(wrapped.answer.response.warnings, undefined, 'no warning once wrapped');
  const api = containerNamed(wrapped.pod, 'api')!;
  const options = ['--provider=aws', '--exit-early', '--log-format=json'];
  t.same(api['readinessProbe'], { exec: { command: [WRAPPER, ...options, 'sh', '-c', 'pg_isready --password="$DB_PASSWORD"'] }, periodSeconds: 5 });
  t.same(api['lifecycle'], { preStop: { exec: { command: [WRAPPER, ...options, '/bin/drain'] } } });
});

t.test('runtime options from the server flags, in order; pod annotations override them', async (t) => {
  const pod = (annotations: Record<string, string> = {}): Pod => ({
    metadata: { name: 'report', annotations },
    spec: {
      containers: [
        { name: 'bq', image: 'registry.example.com/bq:1', command: ['/bq'], env: [{ name: 'KEY', valueFrom: { configMapKeyRef: { name: 'bigquery', key: 'key' } } }] },
        { name: 'db', image: 'registry.example.com/db:1', command: ['/db'], stdin: true, tty: true, env: [secretKey('PW', 'warehouse', 'password')] },
      ],
    },
  });
  const flagged = await admitted(optioned, pod());
  t.same(containerNamed(flagged.pod, 'bq')!.args, ['--provider=google', '--exit-early', '--google-project=shop-prod', '--log-format=json', '/bq']);
  t.same(containerNamed(flagged.pod, 'db')!.args, ['--provider=aws', '--exit-early', '--log-format=json', '--interactive', '/db'], '--google-project only for google');
  const overridden = await admitted(optioned, pod({ 'secrets-init/exit-early': 'false', 'secrets-init/google-project': 'shop-dev', 'secrets-init/log-format': 'text' }));
  t.same(containerNamed(overridden.pod, 'bq')!.args, ['--provider=google', '--google-project=shop-dev', '--log-format=text', '/bq']);
  const reference = await admitted(plain, pod());
  t.same(containerNamed(reference.pod, 'bq')!.args, ['--provider=google', '/bq'], 'with the reference flags: exactly the reference args');

  const bad = await decide(optioned, pod({ 'secrets-init/log-format': 'yaml' }));
  t.equal(bad.response.allowed, false);
  t.match(bad.response.status?.message, /annotation secrets-init\/log-format must be "text" or "json", not "yaml"/);
  const tooOld = await decide(old, pod({ 'secrets-init/exit-early': 'true' }));
  t.equal(tooOld.response.allowed, false);
  t.match(tooOld.response.status?.message, /annotation secrets-init\/exit-early: secrets-init --exit-early needs release 0\.4\.8 or later, and the injected image ghcr\.io\/doitintl\/secrets-init:0\.4\.5 is older/);
});

t.test('a configured supervisor in the image ENTRYPOINT: secrets-init goes after it', async (t) => {
  const pod: Pod = { metadata: { name: 'tini' }, spec: { containers: [{ name: 'app', image: TINI, env: [secretKey('PW', 'warehouse', 'password'), { name: 'POD_ID', value: 'p-1' }] }] } };
  const supervised = await admitted(optioned, pod);
  const app = containerNamed(supervised.pod, 'app')!;
  t.same(kubeletProcess(app, lookupIn(app)), ['/sbin/tini', '--', WRAPPER, '--provider=aws', '--exit-early', '--log-format=json', '/app', '--home=$HOME', '--id=$(POD_ID)']);
  const again = await decide(optioned, supervised.pod);
  t.same(again.response, { uid: again.response.uid, allowed: true }, 'idempotent');
  const unsupervised = await admitted(plain, pod);
  const whole = containerNamed(unsupervised.pod, 'app')!;
  t.same(kubeletProcess(whole, lookupIn(whole)), [WRAPPER, '--provider=aws', '/sbin/tini', '--', '/app', '--home=$HOME', '--id=$(POD_ID)'], 'without the flag tini runs under secrets-init');
});

t.test('a runtime flag the --image predates stops the server before it listens', async (t) => {
  const result = await runCli(['server', '--image=ghcr.io/doitintl/secrets-init:0.4.5', '--exit-early', '--listen-address=127.0.0.1:0']);
  t.equal(result.code, 2);
  t.equal(result.stdout, '');
  t.match(result.stderr, /^secrets-init-webhook: --exit-early: secrets-init --exit-early needs release 0\.4\.8 or later, and the injected image ghcr\.io\/doitintl\/secrets-init:0\.4\.5 is older; use a newer --image or drop the flag; see --help\n$/);
});
