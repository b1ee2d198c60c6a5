/**
 * Booleans in manifests read as kubectl reads them (YAML 1.1): `stdin: yes` is true, and the
 * webhook sees the pod with `stdin: true`. inject must decide the same pod, not refuse it
 * as malformed.
 */
import t from 'tap';
import { runInjectCli } from '../helpers/inject-cli.js';

const input = `apiVersion: v1
kind: Secret
metadata: {name: app}
stringData: {db: "arn:aws:secretsmanager:us-east-1:123456789012:secret:db"}
---
apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
  containers:
    - name: c
      image: app:1
      command: ["/app"]
      stdin: yes
      tty: Yes
      env:
        - name: DB
          valueFrom:
            secretKeyRef: {name: app, key: db, optional: no}
        - name: OTHER
          valueFrom:
            secretKeyRef: {name: app, key: absent, optional: on}
`;

t.test('yes, no, on, off: booleans, as kubectl and the webhook read them', async (t) => {
  const json = await runInjectCli(['-f', '-', '-o', 'json'], input);
  t.equal(json.code, 0, json.stderr);
  const pod = (JSON.parse(json.stdout) as { items: { spec: { containers: { stdin: unknown; tty: unknown; args: string[] }[] } }[] }).items[1];
  const container = pod?.spec.containers[0];
  t.equal(container?.stdin, true);
  t.equal(container?.tty, true);
  t.same(container?.args, ['--provider=aws', '--interactive', '/app'], 'a terminal: --interactive, as the webhook passes it');
  const yaml = await runInjectCli(['-f', '-'], input);
  t.equal(yaml.code, 0, yaml.stderr);
  t.match(yaml.stdout, /\n {6}stdin: yes\n {6}tty: Yes\n/, 'written as they were');
  t.match(yaml.stdout, /optional: no \}/);
});

t.test('keys that are one boolean to kubectl (on and y: both "true") are refused, saying why', async (t) => {
  const keys = `apiVersion: v1
kind: ConfigMap
metadata:
  name: flags
  labels:
    on: "a"
    y: "b"
`;
  const { code, stdout, stderr } = await runInjectCli(['-f', '-'], keys);
  t.equal(code, 2);
  t.equal(stdout, '');
  t.match(stderr, /Map keys must be unique \(line 7, column 5\)/);
  t.match(stderr, /kubectl reads the key y as "true" \(YAML 1\.1\), as another key of this mapping/);
});
