/**
 * The container image, without Docker: the Dockerfile is parsed and replayed.
 * - The build stage runs on a copy of exactly the build context that .dockerignore lets
 *   through (its `npm ci` stands in as the repository's node_modules, installed from the same
 *   lockfile); its `npm run build` really runs.
 * - The prod-deps stage really runs its `npm ci --omit=dev …` (offline-capable: npm cache).
 * - The final stage's COPY lines assemble the image's /app from those stages, and nothing else.
 * That tree is then started the way the image starts it (ENTRYPOINT, WORKDIR, ENV, the
 * Deployment's args from the manifests), with this Node.js and with the image's Node.js major
 * (the npm package node-<platform>-<arch>@<NODE_MAJOR>), must serve an admission, the probes
 * and metrics, write nothing into the image tree, and stop cleanly on SIGTERM.
 */
import { spawn, execFile } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import { makeTestCertificates } from '../helpers/certs.js';
import type { TestCertificates } from '../helpers/certs.js';
import { REPO_ROOT, SERVING_MESSAGE } from '../helpers/webhook-process.js';
import { containerNamed, exampleReview, parseAnswer, patchedPod, postReview, send } from '../e2e/fixtures/support.js';
import { build } from '../manifests/fixtures/kustomize.js';
import type { KubeObject } from '../manifests/fixtures/kustomize.js';
import {
  execForm,
  inContext,
  keyValues,
  parseCopy,
  parseDockerfile,
  parseDockerignore,
  runCommand,
  stageNamed,
  substitute,
  workdir,
} from './fixtures/dockerfile.js';
import type { Stage } from './fixtures/dockerfile.js';

// A real `npm run build` and `npm ci --omit=dev` (about a minute on 2 CPUs, more under load).
t.setTimeout(300_000);

const dockerfile = parseDockerfile(await readFile(join(REPO_ROOT, 'Dockerfile'), 'utf8'));
const ignore = parseDockerignore(await readFile(join(REPO_ROOT, '.dockerignore'), 'utf8'));
const pkg = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  version: string;
  type?: string;
  engines?: { node?: string };
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const finalStage = dockerfile.stages[dockerfile.stages.length - 1] as Stage;
const NODE_MAJOR = dockerfile.globalArgs['NODE_MAJOR'] ?? '';
/** Build args as a release would pass them. */
const AWS_REFERENCE = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-Xy12Ab';
const BUILD_ARGS: Readonly<Record<string, string>> = { VERSION: '9.8.7-test', REVISION: '0123456789abcdef0123456789abcdef01234567', BUILD_DATE: '2026-11-22T00:00:00Z' };

function of(stage: Stage, keyword: string) {
  return stage.instructions.filter((i) => i.keyword === keyword);
}

function exec(file: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs: number }): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd: options.cwd, env: options.env ?? process.env, timeout: options.timeoutMs, maxBuffer: 32 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error !== null) reject(new Error(`${file} ${args.join(' ')} failed: ${error.message}\n${stdout}\n${stderr}`));
      else resolve({ stdout, stderr });
    });
  });
}

t.test('the Dockerfile: stages, base images, entrypoint, metadata', async (t) => {
  t.same(dockerfile.stages.map((s) => s.name), ['build', 'prod-deps', '2'], 'stages build, prod-deps, then the runtime');
  t.match(NODE_MAJOR, /^\d+$/, `NODE_MAJOR ${NODE_MAJOR}`);
  t.ok(Number(NODE_MAJOR) % 2 === 0 && Number(NODE_MAJOR) >= 22, 'an even (LTS line) Node.js major, 22 or later');
  const engines = /^>=\s*(\d+)/.exec(pkg.engines?.node ?? '')?.[1];
  t.ok(engines !== undefined && Number(NODE_MAJOR) >= Number(engines), `satisfies package.json engines ${pkg.engines?.node ?? ''}`);
  for (const name of ['build', 'prod-deps']) {
    const stage = stageNamed(dockerfile, name);
    t.equal(stage.image, `node:${NODE_MAJOR}-trixie-slim`, `${name}: node:${NODE_MAJOR}-trixie-slim`);
    t.equal(stage.platform, '$BUILDPLATFORM', `${name}: runs on the build platform (no emulation; the output has no native code)`);
  }
  t.equal(finalStage.image, `gcr.io/distroless/nodejs${NODE_MAJOR}-debian13:nonroot`, 'runtime: distroless Node.js of the same major, same Debian (trixie = 13), nonroot');
  t.equal(finalStage.platform, undefined, 'runtime: the target platform');
  t.same(of(finalStage, 'RUN'), [], 'no RUN in the runtime stage (distroless has no shell)');
  t.equal(workdir(finalStage), '/app', 'WORKDIR /app');
  t.same(of(finalStage, 'USER').map((i) => i.rest), ['65532:65532'], 'USER 65532:65532 (numeric: runAsNonRoot can verify it)');
  const entrypoint = execForm(of(finalStage, 'ENTRYPOINT').pop()?.rest ?? '');
  t.same(entrypoint, ['/nodejs/bin/node', '--enable-source-maps', '/app/dist/main.js'], 'ENTRYPOINT runs node on dist/main.js (Deployment args are appended to it)');
  t.same(execForm(of(finalStage, 'CMD').pop()?.rest ?? ''), ['server'], 'CMD server (replaced by the Deployment args)');
  t.same(of(finalStage, 'EXPOSE').map((i) => i.rest), ['8443 9090'], 'EXPOSE 8443 9090');

  const args = Object.assign({}, ...of(finalStage, 'ARG').map((i) => keyValues(i.rest))) as Record<string, string>;
  t.same(Object.keys(args).sort(), ['BUILD_DATE', 'REVISION', 'VERSION'], 'build args VERSION, REVISION, BUILD_DATE');
  const env = Object.assign({}, ...of(finalStage, 'ENV').map((i) => keyValues(i.rest))) as Record<string, string>;
  t.same(env, {
    NODE_ENV: 'production',
    SECRETS_INIT_WEBHOOK_VERSION: '${VERSION}',
    SECRETS_INIT_WEBHOOK_REVISION: '${REVISION}',
    SECRETS_INIT_WEBHOOK_BUILD_DATE: '${BUILD_DATE}',
  }, 'ENV: NODE_ENV and the build metadata for the program');
  const labels = Object.assign({}, ...of(finalStage, 'LABEL').map((i) => keyValues(i.rest))) as Record<string, string>;
  t.equal(labels['org.opencontainers.image.version'], '${VERSION}', 'OCI label version');
  t.equal(labels['org.opencontainers.image.revision'], '${REVISION}', 'OCI label revision');
  t.equal(labels['org.opencontainers.image.created'], '${BUILD_DATE}', 'OCI label created');
  t.equal(labels['org.opencontainers.image.licenses'], 'Apache-2.0', 'OCI label licenses');
  t.equal(labels['org.opencontainers.image.title'], 'secrets-init-webhook', 'OCI label title');

  const install = await readFile(join(REPO_ROOT, 'docs', 'install.md'), 'utf8');
  t.same([finalStage.image, ...Object.keys(env).filter((name) => name.startsWith('SECRETS_INIT_'))].filter((text) => !install.includes(text.replace(`nodejs${NODE_MAJOR}`, 'nodejs24'))), [], 'docs/install.md names the runtime image and the metadata variables');

  const build = stageNamed(dockerfile, 'build');
  t.same(of(build, 'RUN').map((i) => runCommand(i.rest)), ['npm ci --no-audit --no-fund', 'npm run build'], 'build: npm ci (with dev dependencies), then npm run build');
  const deps = stageNamed(dockerfile, 'prod-deps');
  t.same(of(deps, 'RUN').map((i) => runCommand(i.rest)), ['npm ci --omit=dev --ignore-scripts --no-audit --no-fund'], 'prod-deps: npm ci --omit=dev from the lockfile');
});

t.test('.dockerignore: the build context is the sources, the manifests of npm and tsconfig, nothing else', async (t) => {
  const top = (await readdir(REPO_ROOT)).sort();
  const sent = top.filter((entry) => inContext(ignore, entry));
  t.same(sent, ['package-lock.json', 'package.json', 'src', 'tsconfig.json'], 'top-level entries sent');
  for (const path of ['node_modules/typescript/package.json', 'dist/main.js', 'certs/key.pem', '.git/HEAD', 'test/e2e/https.test.ts', 'manifests/overlays/manual/certs/key.pem', '.tap/x', 'Dockerfile']) {
    t.notOk(inContext(ignore, path), `${path} stays out`);
  }
  const sources = await files(join(REPO_ROOT, 'src'));
  t.ok(sources.length > 10 && sources.every((file) => inContext(ignore, relative(REPO_ROOT, file))), `all ${sources.length} files under src/ are sent`);
  const contextSources = dockerfile.stages.flatMap((stage) => of(stage, 'COPY').map((i) => parseCopy(i.rest)).filter((c) => c.from === undefined).flatMap((c) => c.sources));
  t.same(contextSources.filter((source) => !inContext(ignore, source)), [], 'every path the Dockerfile copies from the context is sent');
});

async function files(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

/** Copies `source` (a context path) to `target` as COPY does: a folder's content, or a file; .dockerignore applied. */
async function copyFromContext(source: string, target: string): Promise<void> {
  const from = join(REPO_ROOT, source);
  if ((await stat(from)).isDirectory()) {
    for (const file of await files(from)) {
      const rel = relative(REPO_ROOT, file);
      if (!inContext(ignore, rel)) continue;
      const to = join(target, relative(from, file));
      await mkdir(dirname(to), { recursive: true });
      await cp(file, to);
    }
  } else if (inContext(ignore, source)) {
    await mkdir(dirname(target), { recursive: true });
    await cp(from, target);
  } else {
    throw new Error(`COPY ${source}: excluded by .dockerignore`);
  }
}

/** Replays a build stage in `dir` (standing for its WORKDIR). The build stage's `npm ci` is the repository's node_modules. */
async function replayStage(t: Test, stage: Stage, dir: string): Promise<void> {
  const root = workdir(stage) ?? '/';
  await mkdir(dir, { recursive: true });
  for (const instruction of stage.instructions) {
    if (instruction.keyword === 'COPY') {
      const copy = parseCopy(instruction.rest);
      if (copy.from !== undefined) throw new Error(`stage ${stage.name}: COPY --from is not replayed here`);
      for (const source of copy.sources) {
        const dest = copy.destination.endsWith('/') || copy.sources.length > 1 ? join(dir, copy.destination, source.split('/').pop() ?? source) : join(dir, copy.destination);
        await copyFromContext(source, dest);
      }
    } else if (instruction.keyword === 'RUN') {
      const command = runCommand(instruction.rest);
      if (command.startsWith('npm ci') && !command.includes('--omit=dev')) {
        await symlink(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
        t.pass(`${stage.name}: \`${command}\` stands in as the repository's node_modules (same lockfile)`);
        continue;
      }
      const started = Date.now();
      await exec('sh', ['-c', command], {
        cwd: dir,
        env: { ...process.env, npm_config_prefer_offline: 'true', npm_config_update_notifier: 'false' },
        timeoutMs: 240_000,
      });
      t.pass(`${stage.name}: \`${command}\` in ${Date.now() - started} ms`);
    } else if (!['WORKDIR', 'ENV', 'ARG'].includes(instruction.keyword)) {
      throw new Error(`stage ${stage.name}: ${instruction.keyword} is not replayed here`);
    }
  }
  t.ok(root.startsWith('/'), `${stage.name}: WORKDIR ${root}`);
}

interface ImageTree {
  /** The host folder standing for the image's / */
  root: string;
  entrypoint: string[];
  env: Record<string, string>;
  workdir: string;
}

/** Replays the build stages, then the runtime stage's COPY lines into a fresh root. */
async function assembleImage(t: Test, base: string): Promise<ImageTree> {
  const stageDirs = new Map<string, { dir: string; workdir: string }>();
  // The build stages do not depend on each other: BuildKit runs them side by side, and so do we.
  await Promise.all(
    dockerfile.stages.slice(0, -1).map(async (stage) => {
      const dir = join(base, 'stages', stage.name);
      await replayStage(t, stage, dir);
      stageDirs.set(stage.name, { dir, workdir: workdir(stage) ?? '/' });
    }),
  );
  const root = join(base, 'image');
  const destinations: string[] = [];
  for (const instruction of of(finalStage, 'COPY')) {
    const copy = parseCopy(instruction.rest);
    const from = stageDirs.get(copy.from ?? '');
    if (from === undefined) throw new Error(`runtime COPY without --from=<build stage>: ${instruction.rest}`);
    for (const source of copy.sources) {
      if (!source.startsWith(`${from.workdir}/`)) throw new Error(`COPY ${source}: outside the stage's WORKDIR ${from.workdir}`);
      const target = join(root, copy.destination);
      await mkdir(dirname(target), { recursive: true });
      await rename(join(from.dir, source.slice(from.workdir.length + 1)), target);
      destinations.push(copy.destination);
    }
  }
  t.same(destinations.sort(), ['/app/dist', '/app/node_modules', '/app/package.json'], 'the runtime stage copies dist/, the production node_modules/ and package.json');
  const env = Object.assign({}, ...of(finalStage, 'ENV').map((i) => keyValues(i.rest))) as Record<string, string>;
  const finalArgs = Object.assign({}, ...of(finalStage, 'ARG').map((i) => keyValues(i.rest))) as Record<string, string>;
  const scope = { ...finalArgs, ...BUILD_ARGS };
  return {
    root,
    entrypoint: execForm(of(finalStage, 'ENTRYPOINT').pop()?.rest ?? ''),
    env: Object.fromEntries(Object.entries(env).map(([k, v]) => [k, substitute(v, scope)])),
    workdir: workdir(finalStage) ?? '/',
  };
}

/** Every path under `dir` with its size and mtime (node_modules included): to see that nothing is written. */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  const out = new Map<string, string>();
  for (const entry of entries) {
    const path = join(entry.parentPath, entry.name);
    const info = await stat(path);
    out.set(relative(dir, path), `${info.size}:${info.mtimeMs}`);
  }
  return out;
}

/** The container args of the Deployment in overlays/cert-manager, pointed at loopback and test certificates. */
async function deploymentArgs(certs: TestCertificates): Promise<string[]> {
  const objects = await build('overlays/cert-manager');
  const deployment = objects.find((o) => o.kind === 'Deployment') as KubeObject & { spec: { template: { spec: { containers: Array<{ args: string[] }> } } } };
  const args = deployment.spec.template.spec.containers[0]?.args ?? [];
  return args.map((arg) =>
    arg.startsWith('--listen-address=') ? '--listen-address=127.0.0.1:0'
    : arg.startsWith('--telemetry-listen-address=') ? '--telemetry-listen-address=127.0.0.1:0'
    : arg === '--tls-cert-file=/etc/webhook/certs/tls.crt' ? `--tls-cert-file=${certs.certFile}`
    : arg === '--tls-private-key-file=/etc/webhook/certs/tls.key' ? `--tls-private-key-file=${certs.keyFile}`
    : arg,
  );
}

/** The image's ENTRYPOINT + args on the host: the node binary for /nodejs/bin/node, /app paths into the tree. */
function command(image: ImageTree, node: string, args: readonly string[]): { file: string; argv: string[]; cwd: string } {
  const [program, ...rest] = image.entrypoint;
  if (program !== '/nodejs/bin/node') throw new Error(`unexpected entrypoint program ${program ?? ''}`);
  const hostPath = (arg: string) => (arg.startsWith('/app/') ? join(image.root, arg) : arg);
  return { file: node, argv: [...rest.map(hostPath), ...args], cwd: join(image.root, image.workdir) };
}

interface Running {
  child: ChildProcess;
  url: string;
  telemetryUrl: string;
  out: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function startImage(t: Test, image: ImageTree, node: string, args: readonly string[]): Promise<Running> {
  const home = await mkdtemp(join(tmpdir(), 'secrets-init-image-home-'));
  const tmp = await mkdtemp(join(tmpdir(), 'secrets-init-image-tmp-'));
  t.teardown(() => Promise.all([rm(home, { recursive: true, force: true }), rm(tmp, { recursive: true, force: true })]));
  const { file, argv, cwd } = command(image, node, args);
  const child = spawn(file, argv, { cwd, env: { ...image.env, HOME: home, TMPDIR: tmp, PATH: process.env['PATH'] ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const serving = await new Promise<{ url: string; telemetryUrl: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not serving within 30 s\n${out}\n${err}`)), 30_000);
    const check = () => {
      for (const line of out.split('\n')) {
        if (!line.startsWith('{')) continue;
        const record = JSON.parse(line) as Record<string, unknown>;
        if (record['msg'] === SERVING_MESSAGE && typeof record['url'] === 'string' && typeof record['telemetryUrl'] === 'string') {
          clearTimeout(timer);
          child.stdout.off('data', check);
          resolve({ url: record['url'], telemetryUrl: record['telemetryUrl'] });
          return;
        }
      }
    };
    child.stdout.on('data', check);
    void exit.then(() => {
      clearTimeout(timer);
      setTimeout(() => reject(new Error(`exited before serving\n${out}\n${err}`)), 50);
    });
  });
  return { child, ...serving, out: () => out + err, exit };
}

/** The image's Node.js: node-<platform>-<arch>@<NODE_MAJOR> from npm (cached by npm after the first run). */
async function imageNode(t: Test): Promise<string> {
  const prefix = await mkdtemp(join(tmpdir(), 'secrets-init-node-'));
  t.teardown(() => rm(prefix, { recursive: true, force: true }));
  const name = `node-${process.platform}-${process.arch}`;
  await exec('npm', ['install', '--no-save', '--no-package-lock', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', '--prefix', prefix, `${name}@${NODE_MAJOR}`], {
    cwd: prefix,
    env: { ...process.env, npm_config_update_notifier: 'false' },
    timeoutMs: 180_000,
  });
  return join(prefix, 'node_modules', name, 'bin', 'node');
}

t.test('a copy of exactly the files the Dockerfile copies, with production dependencies only, starts and serves', async (t) => {
  const base = await mkdtemp(join(tmpdir(), 'secrets-init-image-'));
  t.teardown(() => rm(base, { recursive: true, force: true }));
  // Fetch the image's Node.js while the image is assembled.
  const imageNodeBinary = imageNode(t);
  imageNodeBinary.catch(() => {});
  const image = await assembleImage(t, base);
  const app = join(image.root, 'app');
  t.same((await readdir(app)).sort(), ['dist', 'node_modules', 'package.json'], '/app holds dist, node_modules, package.json');
  t.same((await readdir(image.root)).sort(), ['app'], 'nothing outside /app');
  t.same(JSON.parse(await readFile(join(app, 'package.json'), 'utf8')), pkg, 'package.json as in the repository ("type": "module", version)');
  t.ok((await stat(join(app, 'dist', 'main.js'))).isFile(), 'dist/main.js was built');
  const installed = new Set(await readdir(join(app, 'node_modules')));
  t.same(Object.keys(pkg.dependencies).filter((name) => !installed.has(name.split('/')[0] as string)), [], 'every production dependency is there');
  t.same(Object.keys(pkg.devDependencies).filter((name) => installed.has(name) && !(name in pkg.dependencies)), [], 'no development dependency (typescript, tap, …)');
  t.notOk(installed.has('.bin') && (await readdir(join(app, 'node_modules', '.bin'))).includes('tsc'), 'no TypeScript compiler');
  // Whatever node_modules folders the host has above the image tree, the image has only its own.
  const imported = new Set<string>();
  for (const file of (await files(join(app, 'dist'))).filter((path) => path.endsWith('.js'))) {
    for (const [, specifier] of (await readFile(file, 'utf8')).matchAll(/(?:from\s*|import\s*\(\s*)'([^'.\/][^']*)'/g)) {
      if (specifier === undefined || specifier.startsWith('node:')) continue;
      const parts = specifier.split('/');
      imported.add(specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] as string));
    }
  }
  t.ok(imported.has('fastify') && imported.has('yaml'), `the imports of dist/ were read (${[...imported].sort().join(', ')})`);
  const missing: string[] = [];
  for (const name of imported) if (!(await stat(join(app, 'node_modules', name)).then(() => true, () => false))) missing.push(name);
  t.same(missing, [], 'every package dist/ imports is installed in the image');

  const certs = await makeTestCertificates('ec-pkcs8');
  t.teardown(certs.cleanup);
  const args = await deploymentArgs(certs);
  const before = await snapshot(image.root);
  t.ok(before.size > 1000, `${before.size} paths in the image tree`);

  const nodes: Array<[string, () => Promise<string>]> = [
    [`this Node.js (${process.version})`, async () => process.execPath],
    [`the image's Node.js ${NODE_MAJOR} (npm ${`node-${process.platform}-${process.arch}`}@${NODE_MAJOR})`, () => imageNodeBinary],
  ];
  for (const [what, binary] of nodes) {
    await t.test(what, async (t) => {
      const node = await binary();
      const { stdout: nodeVersion } = await exec(node, ['--version'], { timeoutMs: 20_000 });
      t.pass(`node ${nodeVersion.trim()}`);
      if (node !== process.execPath) t.match(nodeVersion.trim(), new RegExp(`^v${NODE_MAJOR}\\.`), `Node.js ${NODE_MAJOR}`);

      const hook = await startImage(t, image, node, args);
      t.match(hook.url, /^https:\/\/127\.0\.0\.1:\d+$/, `serving HTTPS with the Deployment's args: ${args.join(' ')}`);

      const review = exampleReview();
      const answer = parseAnswer(await postReview(hook.url, review, { ca: certs.caPem, servername: 'localhost' }));
      t.equal(answer.response.uid, review.request.uid, 'answers the AdmissionReview');
      t.equal(answer.response.patchType, 'JSONPatch', 'with a JSON patch');
      const pod = patchedPod(review.request.object!, answer);
      t.same(containerNamed(pod, 'api')?.command, ['/helper/bin/secrets-init'], 'that wraps the container in secrets-init');
      t.equal(pod.spec.initContainers?.[0]?.name, 'copy-secrets-init', 'and adds the init container');

      t.equal((await send(`${hook.url}/readyz`, { ca: certs.caPem, servername: 'localhost' })).status, 200, 'readinessProbe: HTTPS /readyz 200');
      t.equal((await send(`${hook.telemetryUrl}/healthz`)).status, 200, 'livenessProbe: telemetry /healthz 200');
      const metrics = await send(`${hook.telemetryUrl}/metrics`);
      t.match(metrics.text, /secrets_init_webhook_admissions_total/, 'metrics on the telemetry port');

      hook.child.kill('SIGTERM');
      const stopped = await Promise.race([hook.exit, new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 20_000))]);
      t.same(stopped, { code: 0, signal: null }, 'SIGTERM: exits 0');

      const after = await snapshot(image.root);
      const changed = [...after].filter(([path, sig]) => before.get(path) !== sig).map(([path]) => path);
      const removed = [...before.keys()].filter((path) => !after.has(path));
      t.same({ changed, removed }, { changed: [], removed: [] }, 'nothing written into the image tree (read-only root filesystem)');

      const { file, argv, cwd } = command(image, node, ['--version']);
      const version = await exec(file, argv, { cwd, env: { ...image.env, PATH: process.env['PATH'] ?? '' }, timeoutMs: 20_000 });
      t.match(version.stdout, BUILD_ARGS['VERSION'] as string, '--version prints the VERSION build arg');

      // The offline command reads and writes YAML with the image's production dependencies only.
      const manifest = join(base, 'pod.yaml');
      await writeFile(manifest, `apiVersion: v1\nkind: Pod\nmetadata:\n  name: api\nspec:\n  containers:\n    - name: api\n      image: shop/api:1\n      command: [/app]\n      env:\n        - name: DB_PASSWORD\n          value: ${AWS_REFERENCE}\n`);
      const inject = command(image, node, ['inject', '-f', manifest]);
      const injected = await exec(inject.file, inject.argv, { cwd: inject.cwd, env: { ...image.env, PATH: process.env['PATH'] ?? '' }, timeoutMs: 20_000 });
      t.match(injected.stdout, /name: copy-secrets-init/, 'inject writes the pod with the init container');
      t.match(injected.stdout, /- --provider=aws\n\s+- \/app/, 'and its command wrapped');
    });
  }
});
