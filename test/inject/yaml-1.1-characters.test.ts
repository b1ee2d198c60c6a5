/**
 * Characters that kubectl's YAML 1.1 reader does not take as written: U+0085, U+2028 and
 * U+2029 are line breaks to it (folded into a space, or breaking a plain scalar), and DEL and
 * the C1 controls are refused ("control characters are not allowed"). A changed document
 * must write them escaped, whether they were there or come with the patch.
 */
import t from 'tap';
import { parse } from 'yaml';
import { runInjectCli } from '../helpers/inject-cli.js';

const odd = ['line\u2028separator', 'paragraph\u2029separator', 'next\u0085line', 'delete\u007f', 'c1\u0090control'];

t.test('line separators, DEL and C1 controls are written escaped', async (t) => {
  const input = `apiVersion: v1
kind: Pod
metadata:
  name: p
  annotations:
    note: ${JSON.stringify(odd.join(' '))}
spec:
  containers:
    - name: c
      image: app:1
      command: ${JSON.stringify(['/app', ...odd])}
      env:
        - name: DB
          value: arn:aws:secretsmanager:us-east-1:123456789012:secret:db
`;
  const { code, stdout, stderr } = await runInjectCli(['-f', '-'], input);
  t.equal(code, 0, stderr);
  t.notMatch(stdout, /[\u007f-\u009f\u2028\u2029]/, 'none of them written raw');
  const pod = parse(stdout) as { metadata: { annotations: Record<string, string> }; spec: { containers: { args: string[] }[] } };
  t.equal(pod.metadata.annotations['note'], odd.join(' '), 'the annotation reads back as it was');
  t.same(pod.spec.containers[0]?.args, ['--provider=aws', '/app', ...odd], 'the arguments read back as they were');
});
