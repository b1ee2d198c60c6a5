/**
 * Pod templates in kinds inject does not know (an Argo Rollout, a PodTemplate) are left as
 * they are, and inject says so: `--check` must not let a CI gate believe they were checked.
 */
import t from 'tap';
import { runInjectCli } from '../helpers/inject-cli.js';

const ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:db';
const rollout = `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  template:
    spec:
      containers:
        - {name: app, image: app:1, command: [/app], env: [{name: DB, value: "${ARN}"}]}
`;
const podTemplate = `apiVersion: v1
kind: PodTemplate
metadata: {name: base}
template:
  spec:
    containers:
      - {name: app, image: app:1, command: [/app]}
`;
const configMap = `apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {template: "spec"}
`;

t.test('a pod template in an unknown kind is written as it is, with a note; other objects without one get none', async (t) => {
  const input = [rollout, podTemplate, configMap].join('---\n');
  const written = await runInjectCli(['-f', '-'], input);
  t.equal(written.code, 0, written.stderr);
  t.equal(written.stdout, input, 'left as it is');
  t.equal(
    written.stderr,
    [
      'note: Rollout web (stdin, document 1): a pod template in a kind inject does not know, left as it is (the webhook injects its pods as they are created)',
      'note: PodTemplate base (stdin, document 2): a pod template in a kind inject does not know, left as it is (the webhook injects its pods as they are created)',
      '',
    ].join('\n'),
  );
});

t.test('--check says how many pod templates it did not check', async (t) => {
  const check = await runInjectCli(['-f', '-', '--check'], rollout);
  t.equal(check.code, 0, 'nothing it knows needs injection');
  t.match(check.stderr, /every pod is injected already, or needs no injection \(1 pod template of other kinds not checked\)\n$/);
  const plain = await runInjectCli(['-f', '-', '--check'], configMap);
  t.equal(plain.stderr, 'every pod is injected already, or needs no injection\n');
});
