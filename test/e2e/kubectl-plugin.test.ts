/**
 * The kubectl plugin: the package's `bin` names an executable kubectl-secrets_init, and the
 * real kubectl finds it on PATH and runs `kubectl secrets-init inject …` and `… audit …`
 * through it.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { startStubApiServer } from '../helpers/stub-apiserver.js';
import { REPO_ROOT } from '../helpers/webhook-process.js';

const run = promisify(execFile);
const manifest = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
const target = manifest.bin['kubectl-secrets_init'];
t.ok(target, 'package.json bin has kubectl-secrets_init');

const dir = await mkdtemp(join(tmpdir(), 'secrets-init-plugin-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
// As npm links a package's bin: a link named after the bin entry, to the built file.
await symlink(join(REPO_ROOT, target ?? 'missing'), join(dir, 'kubectl-secrets_init'));
const env = { PATH: `${dir}:${dirname(process.execPath)}:${process.env['PATH'] ?? ''}`, HOME: dir, KUBECONFIG: '' };

t.test('kubectl plugin list finds it', async (t) => {
  const { stdout } = await run('kubectl', ['plugin', 'list'], { env, timeout: 20_000 });
  t.match(stdout, join(dir, 'kubectl-secrets_init'));
});

t.test('help and usage errors name it kubectl secrets-init', async (t) => {
  const { stdout } = await run('kubectl', ['secrets-init', '--help'], { env, timeout: 20_000 });
  t.match(stdout, /^Usage: kubectl secrets-init \[global flags\] <command>/);
  t.match(stdout, "Run 'kubectl secrets-init <command> --help'");
  const inject = await run('kubectl', ['secrets-init', 'inject', '--help'], { env, timeout: 20_000 });
  t.match(inject.stdout, /^Usage: kubectl secrets-init inject \[flags\]/);
  const error = await run('kubectl', ['secrets-init', 'inject', '--bogus'], { env, timeout: 20_000 }).then(
    () => ({ code: 0, stderr: '' }),
    (failure: { code?: number; stderr?: string }) => ({ code: failure.code, stderr: failure.stderr ?? '' }),
  );
  t.equal(error.code, 2);
  t.match(error.stderr, /^kubectl secrets-init: unknown flag "--bogus"/);
});

t.test('kubectl secrets-init inject -f FILE', async (t) => {
  const file = join(dir, 'pod.yaml');
  await writeFile(file, 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n    - name: app\n      image: registry.example.com/app:1\n      command: [/app]\n      env: [{name: KEY, value: "arn:aws:secretsmanager:us-east-1:123456789012:secret:k"}]\n');
  const { stdout } = await run('kubectl', ['secrets-init', 'inject', '-f', file], { env, timeout: 20_000 });
  t.match(stdout, '- /helper/bin/secrets-init');
  t.match(stdout, 'name: copy-secrets-init');
  const check = await run('kubectl', ['secrets-init', 'inject', '-f', file, '--check'], { env, timeout: 20_000 }).then(
    () => 0,
    (error: { code?: number }) => error.code,
  );
  t.equal(check, 1, '--check exits 1 through kubectl too');
});

t.test('kubectl secrets-init audit', async (t) => {
  const stub = await startStubApiServer();
  t.teardown(() => stub.close());
  stub.addNamespace('default');
  const { stdout } = await run('kubectl', ['secrets-init', 'audit', '--kubeconfig', stub.kubeconfigPath], { env, timeout: 20_000 });
  t.match(stdout, 'No pod holds secret references without secrets-init.');
});
