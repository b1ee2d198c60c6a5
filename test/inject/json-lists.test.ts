/**
 * `-o json` with several documents gives one List (as kubectl prints several objects). A List
 * among them gives its items, not itself as an item: kubectl cannot read a List nested in a
 * List ("is not a list: no Items field in this object").
 */
import t from 'tap';
import { runInjectCli } from '../helpers/inject-cli.js';

const input = `apiVersion: v1
kind: List
items:
  - {apiVersion: v1, kind: Service, metadata: {name: a}}
  - apiVersion: v1
    kind: Pod
    metadata: {name: p}
    spec:
      containers:
        - name: c
          image: app:1
          command: [/app]
          env: [{name: DB, value: "arn:aws:secretsmanager:us-east-1:123456789012:secret:db"}]
---
apiVersion: v1
kind: Service
metadata: {name: b}
`;

t.test('a List among several documents: its items in the output List', async (t) => {
  const { code, stdout, stderr } = await runInjectCli(['-f', '-', '-o', 'json'], input);
  t.equal(code, 0, stderr);
  const list = JSON.parse(stdout) as { kind: string; items: { kind: string; metadata: { name: string }; spec?: { containers: { args?: string[] }[] } }[] };
  t.equal(list.kind, 'List');
  t.same(list.items.map((item) => `${item.kind}/${item.metadata.name}`), ['Service/a', 'Pod/p', 'Service/b']);
  t.same(list.items[1]?.spec?.containers[0]?.args, ['--provider=aws', '/app'], 'the pod in it injected');
});

t.test('a List alone is written as the List', async (t) => {
  const { code, stdout } = await runInjectCli(['-f', '-', '-o', 'json'], input.slice(0, input.indexOf('---')));
  t.equal(code, 0);
  const list = JSON.parse(stdout) as { kind: string; items: unknown[] };
  t.equal(list.kind, 'List');
  t.equal(list.items.length, 2);
});
