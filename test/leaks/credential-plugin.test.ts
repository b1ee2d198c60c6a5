/**
 * An exec credential plugin whose output is not the JSON ExecCredential (a script that prints
 * the bare token, a plugin printing a table): reads, lists and the certificate bootstrap fail
 * saying so, never with the start of the output, which is the token.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadKubeConfig } from '../../src/kubernetes/kubeconfig.js';
import { createKubeObjectReader } from '../../src/kubernetes/api-reader.js';
import { createClusterScanner } from '../../src/kubernetes/cluster-scan.js';
import { createBootstrapApi } from '../../src/bootstrap/api.js';

const TOKEN = 'CANARY7f3aPluginToken0123456789';
const dir = await mkdtemp(join(tmpdir(), 'credential-plugin-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

const OUTPUTS: Array<[string, string]> = [
  ['the bare token', TOKEN],
  ['a token left unquoted', `{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "status": {"token": ${TOKEN}}}`],
  ['a table', `ExecCredential ${TOKEN}`],
];

for (const [what, output] of OUTPUTS) {
  t.test(`a plugin printing ${what}`, async (t) => {
    const path = join(dir, `${what.replace(/\W+/g, '-')}.yaml`);
    await writeFile(
      path,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '- name: c',
        '  cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}',
        'contexts:',
        '- name: x',
        '  context: {cluster: c, user: u}',
        'current-context: x',
        'users:',
        '- name: u',
        '  user:',
        '    exec:',
        '      apiVersion: client.authentication.k8s.io/v1',
        '      command: sh',
        `      args: ["-c", ${JSON.stringify(`printf '%s' '${output}'`)}]`,
        '',
      ].join('\n'),
    );
    const config = loadKubeConfig({ KUBECONFIG: path });
    if (config === undefined) throw new Error('no kubeconfig');
    const reader = createKubeObjectReader(config, { timeoutMs: 5_000 });
    const scanner = createClusterScanner(config, 5_000);
    const api = createBootstrapApi(config, { timeoutMs: 5_000, signal: new AbortController().signal });
    for (const call of [() => reader.read({ kind: 'Secret', namespace: 'ns', name: 's' }), () => scanner.namespaces(10), () => api.readSecret('ns', 'tls')]) {
      const error = await call().then(() => undefined, (e: unknown) => e);
      const message = (error as Error | undefined)?.message ?? '';
      t.match(message, /Kubernetes client configuration error: a credential plugin's output is not valid JSON/);
      t.notOk(message.includes(TOKEN.slice(0, 6)), `no piece of the token in: ${message}`);
    }
  });
}
