/**
 * Numbers in manifests read as kubectl reads them (YAML 1.1): a plain `0644` is octal, 420.
 * A changed document must keep that value, in YAML as in JSON, not turn it into decimal 644.
 */
import t from 'tap';
import { runInjectCli } from '../helpers/inject-cli.js';

const pod = (fields: string) => `apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
${fields}
  containers:
    - name: c
      image: app:1
      command: ["/app"]
      env:
        - name: DB
          value: arn:aws:secretsmanager:us-east-1:123456789012:secret:db
`;

t.test('an octal mode in a changed document keeps its value', async (t) => {
  const input = pod(`  terminationGracePeriodSeconds: 0030
  volumes:
    - name: config
      configMap:
        name: config
        defaultMode: 0644
    - name: key
      secret:
        secretName: key
        defaultMode: 0o400`);
  const yaml = await runInjectCli(['-f', '-'], input);
  t.equal(yaml.code, 0, yaml.stderr);
  t.match(yaml.stdout, /\n {8}defaultMode: 0644\n/, 'the octal mode written as it was');
  t.match(yaml.stdout, /\n {8}defaultMode: 0o400\n/);
  t.match(yaml.stdout, /\n {2}terminationGracePeriodSeconds: 0030\n/);
  const json = await runInjectCli(['-f', '-', '-o', 'json'], input);
  t.equal(json.code, 0, json.stderr);
  const written = JSON.parse(json.stdout) as { spec: { terminationGracePeriodSeconds: number; volumes: { configMap?: { defaultMode: number }; secret?: { defaultMode: number } }[] } };
  t.equal(written.spec.volumes[0]?.configMap?.defaultMode, 0o644, 'JSON holds the mode kubectl reads: 420');
  t.equal(written.spec.volumes[1]?.secret?.defaultMode, 0o400);
  t.equal(written.spec.terminationGracePeriodSeconds, 0o30);
});
