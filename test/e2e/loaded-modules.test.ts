/**
 * The built server imports only what it uses: without Kubernetes API access configured, the
 * Kubernetes client (~70 MiB resident) and certificate generation are never loaded; with a
 * kubeconfig, the client is loaded at start (so a bad kubeconfig still fails at start).
 * Which packages a process loads is read from an ESM resolve hook given through NODE_OPTIONS.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { makeTestCertificates } from '../helpers/certs.js';
import { startStubApiServer } from '../helpers/stub-apiserver.js';
import { startWebhook } from '../helpers/webhook-process.js';

const certs = await makeTestCertificates('ec-pkcs8');
t.teardown(certs.cleanup);
const dir = await mkdtemp(join(tmpdir(), 'secrets-init-webhook-modules-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

// Registers a resolve hook (it runs on the loader thread) that appends every package a
// resolved module URL belongs to, one per line, to $LOADED_PACKAGES_FILE.
const hooks = join(dir, 'hooks.mjs');
await writeFile(
  hooks,
  `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  const match = /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(resolved.url);
  if (match !== null) appendFileSync(process.env.LOADED_PACKAGES_FILE, match[1] + '\\n');
  return resolved;
}
`,
);
const register = join(dir, 'register.mjs');
await writeFile(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);

async function packagesLoaded(name: string, env: Record<string, string>): Promise<Set<string>> {
  const file = join(dir, `${name}.txt`);
  await writeFile(file, '');
  const webhook = await startWebhook(
    ['server', '--listen-address=127.0.0.1:0', `--tls-cert-file=${certs.certFile}`, `--tls-private-key-file=${certs.keyFile}`],
    { ...env, NODE_OPTIONS: `--import=${pathToFileURL(register).href}`, LOADED_PACKAGES_FILE: file },
  );
  await webhook.stop();
  return new Set((await readFile(file, 'utf8')).split('\n').filter((line) => line !== ''));
}

t.test('without API access: neither the Kubernetes client nor certificate generation is loaded', async (t) => {
  const loaded = await packagesLoaded('unconfigured', {});
  t.ok(loaded.has('fastify'), 'the hook sees the packages the server loads (fastify)');
  t.notOk(loaded.has('@kubernetes/client-node'), '@kubernetes/client-node is not loaded');
  t.notOk(loaded.has('selfsigned'), 'selfsigned is not loaded');
  t.notOk(loaded.has('@aws-sdk/client-ecr'), 'the ECR client is not loaded before an ECR image is looked up');
});

t.test('with a kubeconfig: the Kubernetes client is loaded at start', async (t) => {
  const stub = await startStubApiServer();
  t.teardown(() => stub.close());
  const loaded = await packagesLoaded('configured', { KUBECONFIG: stub.kubeconfigPath });
  t.ok(loaded.has('@kubernetes/client-node'), '@kubernetes/client-node is loaded');
  t.notOk(loaded.has('selfsigned'), 'selfsigned is still not loaded (no --self-bootstrap)');
});
