/** A kubeconfig that cannot be used: exit 2, one line naming the command once and the file. */
import t from 'tap';
import { runInjectCli } from '../helpers/inject-cli.js';

t.test('a missing --kubeconfig file', async (t) => {
  const { code, stdout, stderr } = await runInjectCli(['-f', '-', '--kubeconfig', '/nonexistent/kubeconfig'], 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n');
  t.equal(code, 2);
  t.equal(stdout, '');
  t.equal(stderr, 'secrets-init-webhook inject: kubeconfig file /nonexistent/kubeconfig: no such file\n');
});
