/**
 * What the server keeps across admissions (the facts of Secrets and ConfigMaps, image configs,
 * registry tokens, failures remembered for a while) holds no value: after admissions that read
 * Secrets and pull secrets holding canaries, and a collection, the heap holds none of them,
 * nor the Basic credentials made of them. The server runs in a process of its own (the built
 * one, started as `main.js server` starts it), whose heap snapshot is searched; the canaries
 * are made at random and given to it only as hex, so that a string found is one it kept.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { startStubApiServer } from '../helpers/stub-apiserver.js';
import { REPO_ROOT } from '../helpers/webhook-process.js';
import { postReview } from '../e2e/fixtures/support.js';

const NS = 'kept';
const AWS_REF = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf';

/** A canary as bytes: never a string of this process's own. */
function canary(): Buffer {
  return Buffer.concat([Buffer.from('CANARY'), Buffer.from(randomBytes(12).toString('hex'))]);
}

const values = { plain: canary(), refLike: Buffer.concat([Buffer.from('arn:aws:secretsmanager:us-east-1:123456789012:secret:'), canary()]), huge: Buffer.concat([canary(), Buffer.alloc(100_000, 'x')]) };
const pull = { user: canary(), password: canary() };
const userPassword = Buffer.concat([pull.user, Buffer.from(':'), pull.password]);
const needles: Array<[string, Buffer]> = [
  ['a plain Secret value', values.plain],
  ['a Secret value that is a reference', values.refLike.subarray(values.refLike.length - 30)],
  ['a huge Secret value', values.huge.subarray(0, 30)],
  ['a pull secret user name', pull.user],
  ['a pull secret password', pull.password],
  ['a Basic credential', Buffer.from(userPassword.toString('base64')).subarray(0, 30)],
];

/**
 * A registry that refuses every credential, so that each lookup tries them all: with Basic, or
 * with Bearer tokens from its token server (which it then answers 404, as a hidden repository).
 */
let tokensGiven = 0;
async function refusingRegistry(scheme: 'basic' | 'bearer'): Promise<string> {
  const registry = createServer((req: IncomingMessage, res: ServerResponse) => {
    const host = `127.0.0.1:${(registry.address() as AddressInfo).port}`;
    const authorization = req.headers.authorization;
    if (req.url?.startsWith('/token')) {
      if (authorization !== undefined) tokensGiven++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ token: `token-${randomBytes(8).toString('hex')}`, expires_in: 300 }));
      return;
    }
    const challenge = scheme === 'basic' ? 'Basic realm="kept"' : `Bearer realm="http://${host}/token",service="kept"`;
    const status = scheme === 'bearer' && authorization !== undefined ? 404 : 401;
    res.writeHead(status, { 'www-authenticate': challenge, 'content-type': 'application/json' });
    res.end(req.method === 'HEAD' ? undefined : JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: `refused ${authorization ?? ''}` }] }));
  });
  await new Promise<void>((resolve) => registry.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => registry.close(() => resolve())));
  return `127.0.0.1:${(registry.address() as AddressInfo).port}`;
}
const host = await refusingRegistry('basic');
const bearerHost = await refusingRegistry('bearer');

const stub = await startStubApiServer();
t.teardown(() => stub.close());
stub.addNamespace(NS);
stub.addSecret(NS, 'app', { ref: AWS_REF, plain: values.plain, 'looks-like-ref': values.refLike, huge: values.huge });
const auth = Buffer.from(userPassword.toString('base64'));
stub.addSecret(NS, 'regcred', { '.dockerconfigjson': Buffer.concat([Buffer.from(`{"auths": {"${host}": {"auth": "`), auth, Buffer.from(`"}, "${bearerHost}": {"auth": "`), auth, Buffer.from('"}}}')]) }, 'kubernetes.io/dockerconfigjson');
stub.addSecret(NS, 'regcred-fields', {
  '.dockerconfigjson': Buffer.concat([Buffer.from(`{"auths": {"${host}": {"username": "`), pull.user, Buffer.from('", "password": "'), pull.password, Buffer.from('"}}}')]),
});

/**
 * The server, in a child process: it prints its URL, and on a line on stdin searches its own
 * heap snapshot for the needles (given as hex) and prints which it found, as JSON.
 */
const CHILD = `
import { getHeapSnapshot } from 'node:v8';
import { createInterface } from 'node:readline';
const dist = (path) => import(new URL(path, process.env.DIST_URL).href);
const { parseCommandLine } = await dist('cli/parse.js');
const { startServer } = await dist('commands/server.js');
const { createLogger } = await dist('telemetry/logger.js');
const parsed = parseCommandLine(JSON.parse(process.env.ARGS), {}, 'test');
const server = await startServer(parsed.server, createLogger({ logLevel: 'debug', json: true }, { write: () => true }), { KUBECONFIG: process.env.KUBECONFIG });
process.stdout.write(server.url + '\\n');
const needles = JSON.parse(process.env.NEEDLES).map(([what, hex]) => [what, Buffer.from(hex, 'hex')]);
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'probe') globalThis.probe = needles[0][1].toString('utf8');
  const found = new Set();
  const longest = Math.max(...needles.map(([, needle]) => needle.length));
  let tail = Buffer.alloc(0);
  for await (const chunk of getHeapSnapshot()) {
    const window = Buffer.concat([tail, chunk]);
    for (const [what, needle] of needles) if (window.includes(needle)) found.add(what);
    tail = window.subarray(Math.max(0, window.length - longest));
  }
  process.stdout.write(JSON.stringify([...found]) + '\\n');
  if (line === 'probe') break;
}
await server.close();
`;

t.test('after admissions, the heap holds no Secret value and no pull credential', async (t) => {
  const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD], {
    env: {
      PATH: process.env['PATH'] ?? '',
      DIST_URL: pathToFileURL(join(REPO_ROOT, 'dist/')).href,
      KUBECONFIG: stub.kubeconfigPath,
      ARGS: JSON.stringify(['server', '--listen-address=127.0.0.1:0', `--insecure-registries=${host},${bearerHost}`, '--object-cache-ttl=5m', '--image-cache-ttl=5m', '--registry-timeout=2s']),
      NEEDLES: JSON.stringify(needles.map(([what, needle]) => [what, needle.toString('hex')])),
    },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  t.teardown(() => child.kill('SIGKILL'));
  const lines: string[] = [];
  const waiting: Array<(line: string) => void> = [];
  let pending = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    for (let newline = pending.indexOf('\n'); newline >= 0; newline = pending.indexOf('\n')) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      const next = waiting.shift();
      if (next !== undefined) next(line);
      else lines.push(line);
    }
  });
  const nextLine = (): Promise<string> => new Promise((resolve) => (lines.length > 0 ? resolve(lines.shift() ?? '') : waiting.push(resolve)));
  const url = await nextLine();
  const container = (fields: Record<string, unknown>) => ({ name: 'app', image: 'registry.example.com/app:1', command: ['/app'], ...fields });
  const specs: Array<Record<string, unknown>> = [
    { containers: [container({ envFrom: [{ secretRef: { name: 'app' } }] })] },
    { containers: [container({ env: [{ name: 'P', valueFrom: { secretKeyRef: { name: 'app', key: 'plain' } } }, { name: 'R', valueFrom: { secretKeyRef: { name: 'app', key: 'looks-like-ref' } } }] })] },
    { imagePullSecrets: [{ name: 'regcred' }, { name: 'regcred-fields' }], containers: [{ name: 'app', image: `${host}/team/app:1`, envFrom: [{ secretRef: { name: 'app' } }] }] },
    { imagePullSecrets: [{ name: 'regcred' }], containers: [{ name: 'app', image: `${bearerHost}/team/app:1`, env: [{ name: 'R', value: AWS_REF }] }] },
  ];
  let answered = 0;
  for (let round = 0; round < 3; round++) {
    for (const [i, spec] of specs.entries()) {
      const review = {
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        request: { uid: `u-${round}-${i}`, kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: NS, object: { metadata: { name: `p${i}`, namespace: NS }, spec } },
      };
      const result = await postReview(url, review, { timeoutMs: 20_000 });
      if (result.status === 200) answered++;
    }
  }
  t.equal(answered, 3 * specs.length, 'every admission was answered');
  t.ok(tokensGiven > 0, 'tokens were fetched with the pull secret');
  child.stdin.write('check\n');
  t.same(JSON.parse(await nextLine()), [], 'nothing secret is kept');
  // The check itself finds what is there: the first needle, made a string of the server's.
  child.stdin.write('probe\n');
  t.same(JSON.parse(await nextLine()), [needles[0]?.[0]], 'a value held as a string is found');
});
