/**
 * A pod annotated secrets-init/inject: "false" is left alone: the webhook reads none of its
 * Secrets and ConfigMaps, so inject needs none of them in its input either.
 */
import t from 'tap';
import { runInjectCli } from '../helpers/inject-cli.js';

const input = `apiVersion: apps/v1
kind: Deployment
metadata: {name: legacy}
spec:
  template:
    metadata:
      annotations: {secrets-init/inject: "false"}
    spec:
      containers:
        - name: app
          image: app:1
          command: [/app]
          env:
            - {name: DB, valueFrom: {secretKeyRef: {name: db, key: password}}}
          envFrom:
            - configMapRef: {name: settings}
`;

t.test('an opted-out pod whose Secrets are not in the input is written as it is', async (t) => {
  const written = await runInjectCli(['-f', '-'], input);
  t.equal(written.code, 0, written.stderr);
  t.equal(written.stdout, input);
  t.equal(written.stderr, '');
  const check = await runInjectCli(['-f', '-', '--check'], input);
  t.equal(check.code, 0, check.stderr);
});
