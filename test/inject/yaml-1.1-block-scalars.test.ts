/**
 * Multi-line strings inject writes as block scalars must read back the same to kubectl's
 * reader (libyaml), which finds the indentation of a block scalar from its first lines: a
 * tab there is refused ("found a tab character where an indentation space is expected"),
 * and lines of spaces before the first line of text lose their spaces.
 */
import t from 'tap';
import { parse } from 'yaml';
import { runInjectCli } from '../helpers/inject-cli.js';

const scripts = ['\techo tab-indented\n', '\n\tindented after a blank line\n', '  \t\n', ' \nafter a line of one space\n', '\n  \n', 'text\n\tthen a tab\n', '  indented\ntext\n'];

t.test('multi-line arguments that start with tabs or lines of spaces are not block scalars', async (t) => {
  const input = JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p' },
    spec: { containers: [{ name: 'c', image: 'app:1', command: ['sh', '-c', ...scripts], env: [{ name: 'DB', value: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:db' }] }] },
  });
  const { code, stdout, stderr } = await runInjectCli(['-f', '-'], input);
  t.equal(code, 0, stderr);
  const pod = parse(stdout) as { spec: { containers: { args: string[] }[] } };
  t.same(pod.spec.containers[0]?.args, ['--provider=aws', 'sh', '-c', ...scripts]);
  const args = stdout.slice(stdout.indexOf('args:'), stdout.indexOf('volumeMounts:'));
  for (const script of scripts.slice(0, 5)) t.match(args, `\n        - ${JSON.stringify(script)}\n`, `${JSON.stringify(script)} double-quoted`);
  t.match(args, /- \|\n {10}text\n {10}\tthen a tab\n/, 'a tab after the first line of text is read right in a block scalar');
});
