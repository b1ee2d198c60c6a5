/**
 * A kubeconfig whose server URL carries a user and password (`https://user:password@host`,
 * as some proxies in front of API servers take them): the server's start log and the
 * offline commands' messages name the API server without them.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { shownServer } from '../../src/kubernetes/config-source.js';
import { startStubApiServer } from '../helpers/stub-apiserver.js';
import { runCli, startWebhook } from '../helpers/webhook-process.js';

const PASSWORD = 'CANARY-7f3a-url-password';

t.test('shownServer drops the user information, whatever it holds', async (t) => {
  t.equal(shownServer(`https://admin:${PASSWORD}@10.0.0.1:6443`), 'https://10.0.0.1:6443');
  t.equal(shownServer(`https://admin:${PASSWORD}@api.example.com/prefix?x=1`), 'https://api.example.com/prefix?x=1');
  t.equal(shownServer(`https://a@b:${PASSWORD}@[::1]:6443`), 'https://[::1]:6443', 'an @ in the password');
  t.equal(shownServer('https://10.0.0.1:6443/user@example'), 'https://10.0.0.1:6443/user@example', 'an @ in the path is not user information');
  t.equal(shownServer('https://10.0.0.1:6443'), 'https://10.0.0.1:6443');
  t.equal(shownServer(undefined), '(unknown server)');
});

t.test('the server and audit do not show the password of the server URL', async (t) => {
  const stub = await startStubApiServer();
  t.teardown(() => stub.close());
  const dir = await mkdtemp(join(tmpdir(), 'server-url-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const kubeconfig = join(dir, 'config');
  await writeFile(kubeconfig, (await readFile(stub.kubeconfigPath, 'utf8')).replace('https://127.0.0.1', `https://admin:${PASSWORD}@127.0.0.1`));

  const hook = await startWebhook(['server'], { KUBECONFIG: kubeconfig }, { t, readyTimeoutMs: 60_000 });
  await hook.stop();
  t.match(hook.stdout(), /"server":"https:\/\/127\.0\.0\.1:\d+","msg":"Kubernetes API configured"/);
  t.notOk(hook.logs().includes(PASSWORD), 'not in the server log');

  // Refused by the API server: audit names the cluster it cannot use.
  stub.token = 'another-token';
  const audit = await runCli(['audit', '-A'], { KUBECONFIG: kubeconfig }, { t, timeoutMs: 30_000 });
  t.equal(audit.code, 2);
  t.match(audit.stderr, /cannot use the cluster at https:\/\/127\.0\.0\.1:\d+: /);
  t.notOk(audit.stdout.includes(PASSWORD) || audit.stderr.includes(PASSWORD), `not in audit's message: ${audit.stderr}`);
});
