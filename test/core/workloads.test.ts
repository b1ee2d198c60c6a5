/**
 * The pod mutation for workloads beyond a plain Deployment: `$` in commands that come
 * from the image, runtime options, interactive and Windows pods, Argo's executor,
 * native sidecars, exec probes and lifecycle hooks.
 */
import t from 'tap';
import { computePodMutation, imageConfigsNeeded, planPod } from '../../src/core/pod-mutation.js';
import type { MutationOutcome } from '../../src/core/pod-mutation.js';
import type { Container, Pod } from '../../src/core/pod.js';
import type { InjectionSettings } from '../../src/core/settings.js';
import { ARGO_EMISSARY } from '../../src/core/supervisor.js';
import { AWS_REFS, SETTINGS, container, facts, findContainer, mutateAndApply, objects, pod, validatePod } from '../helpers/pods.js';

const WRAPPER = '/helper/bin/secrets-init';
const DB = { name: 'DB_PASSWORD', value: AWS_REFS[0] };
const GCP = { name: 'API_KEY', value: 'gcp:secretmanager:api-key' };

function denied(outcome: MutationOutcome): string {
  if (outcome.allowed) throw new Error(`expected a denial, got allowed (${outcome.mutation ? 'with' : 'without'} mutation)`);
  return outcome.reason;
}

/** The outcome of admitting the pod again (reinvocation). */
function settled(input: Pod, settings: InjectionSettings = SETTINGS): MutationOutcome {
  return computePodMutation(input, facts(), settings);
}

t.test('$ in commands from the image', async (t) => {
  t.test('ENTRYPOINT and CMD are escaped so the kubelet passes them on as the image has them', async (t) => {
    const input = pod({ containers: [container('app', { env: [DB] })] });
    const image = { entrypoint: ['/bin/sh', '-c', 'exec app --user=$(whoami) --home=$HOME --price=5$'], cmd: ['$$', '$(DB_PASSWORD)'] };
    const { result } = mutateAndApply(input, facts(undefined, { app: image }));
    t.strictSame(result.spec.containers[0]!.command, [WRAPPER]);
    t.strictSame(result.spec.containers[0]!.args, ['--provider=aws', '/bin/sh', '-c', 'exec app --user=$$(whoami) --home=$$HOME --price=5$$', '$$$$', '$$(DB_PASSWORD)']);
  });
  t.test('ENTRYPOINT [""] resets the entrypoint: CMD runs alone, or the pod is denied when there is none', async (t) => {
    const input = pod({ containers: [container('app', { env: [DB] })] });
    const { result } = mutateAndApply(input, facts(undefined, { app: { entrypoint: [''], cmd: ['/app', 'serve'] } }));
    t.strictSame(result.spec.containers[0]!.args, ['--provider=aws', '/app', 'serve']);
    const empty = computePodMutation(input, facts(undefined, { app: { entrypoint: [''], cmd: [] } }), SETTINGS);
    t.match(denied(empty), /container "app" has no command and image "registry\.example\.com\/app:1\.0" has neither ENTRYPOINT nor CMD/);
    const annotated = mutateAndApply(pod({ containers: [container('app', { env: [DB] })] }, { 'secrets-init/command.app': '{"entrypoint":[""],"cmd":["/run"]}' }));
    t.strictSame(annotated.result.spec.containers[0]!.args, ['--provider=aws', '/run'], 'the command annotation reads the same way');
  });
  t.test('the container\'s own args stay as written next to an escaped ENTRYPOINT', async (t) => {
    const input = pod({ containers: [container('app', { args: ['--token=$(DB_PASSWORD)', '$$literal'], env: [DB] })] });
    const { result } = mutateAndApply(input, facts(undefined, { app: { entrypoint: ['/run$'], cmd: ['ignored'] } }));
    t.strictSame(result.spec.containers[0]!.args, ['--provider=aws', '/run$$', '--token=$(DB_PASSWORD)', '$$literal']);
  });
  t.test('the command annotation stands in for the image and is escaped the same way', async (t) => {
    const input = pod({ containers: [container('app', { env: [DB] })] }, { 'secrets-init/command.app': '{"entrypoint":["/bin/sh","-c"],"cmd":["echo $(X) $$"]}' });
    const { result } = mutateAndApply(input);
    t.strictSame(result.spec.containers[0]!.args, ['--provider=aws', '/bin/sh', '-c', 'echo $$(X) $$$$']);
  });
  t.test('a container command with $ stays exactly as written', async (t) => {
    const input = pod({ containers: [container('app', { command: ['/bin/sh', '-c', 'echo $(DB_PASSWORD) $$HOME $'], env: [DB] })] });
    const { result } = mutateAndApply(input);
    t.strictSame(result.spec.containers[0]!.args, ['--provider=aws', '/bin/sh', '-c', 'echo $(DB_PASSWORD) $$HOME $']);
  });
});

t.test('runtime options', async (t) => {
  const options = { ...SETTINGS, runtime: { exitEarly: true, googleProject: 'my-project', logFormat: 'json' as const } };
  t.test('no option set: exactly the reference\'s args', async (t) => {
    const { result } = mutateAndApply(pod({ containers: [container('app', { command: ['/app'], env: [DB] })] }));
    t.strictSame(result.spec.containers[0]!.args, ['--provider=aws', '/app']);
  });
  t.test('server options go to every wrapped container in order; --google-project only where the provider is google', async (t) => {
    const input = pod({
      containers: [
        container('aws', { command: ['/a'], env: [DB] }),
        container('gcp', { command: ['/g'], env: [GCP], stdin: true, tty: true }),
      ],
    });
    const { result } = mutateAndApply(input, facts(), options);
    t.strictSame(result.spec.containers[0]!.args, ['--provider=aws', '--exit-early', '--log-format=json', '/a']);
    t.strictSame(result.spec.containers[1]!.args, ['--provider=google', '--exit-early', '--google-project=my-project', '--log-format=json', '--interactive', '/g']);
  });
  t.test('pod annotations override the server options', async (t) => {
    const input = pod(
      { containers: [container('gcp', { command: ['/g'], env: [GCP] })] },
      { 'secrets-init/exit-early': 'false', 'secrets-init/google-project': 'other-project', 'secrets-init/log-format': 'text' },
    );
    const { result } = mutateAndApply(input, facts(), options);
    t.strictSame(result.spec.containers[0]!.args, ['--provider=google', '--google-project=other-project', '--log-format=text', '/g']);
    const on = mutateAndApply(pod({ containers: [container('a', { command: ['/a'], env: [DB] })] }, { 'secrets-init/exit-early': 'true' }));
    t.strictSame(on.result.spec.containers[0]!.args, ['--provider=aws', '--exit-early', '/a']);
  });
  t.test('a malformed annotation denies a pod that needs injection, and names the annotation', async (t) => {
    const input = pod({ containers: [container('a', { command: ['/a'], env: [DB] })] }, { 'secrets-init/log-format': 'yaml', 'secrets-init/exit-early': 'sure' });
    const reason = denied(computePodMutation(input, facts(), SETTINGS));
    t.match(reason, /secrets-init\/exit-early must be "true" or "false", not "sure"/);
    t.match(reason, /secrets-init\/log-format must be "text" or "json", not "yaml"/);
    t.strictSame(imageConfigsNeeded(planPod(pod({ containers: [container('a', { env: [DB] })] }, { 'secrets-init/log-format': 'yaml' }), facts(), SETTINGS)), [], 'no registry lookup for a pod denied anyway');
    const plain = computePodMutation(pod({ containers: [container('a', { command: ['/a'] })] }, { 'secrets-init/log-format': 'yaml' }), facts(), SETTINGS);
    t.equal(plain.allowed, true, 'a pod without references is not denied for it');
    t.match(plain.warnings.join('\n'), /secrets-init\/log-format.*ignored: no container holds a reference/);
  });
  t.test('an option the injected image predates is a denial that says why', async (t) => {
    const old = { ...SETTINGS, image: 'ghcr.io/doitintl/secrets-init:0.4.5' };
    const input = pod({ containers: [container('a', { command: ['/a'], env: [DB] })] }, { 'secrets-init/exit-early': 'true', 'secrets-init/log-format': 'json' });
    const reason = denied(computePodMutation(input, facts(), old));
    t.match(reason, /annotation secrets-init\/exit-early: secrets-init --exit-early needs release 0\.4\.8 or later, and the injected image ghcr\.io\/doitintl\/secrets-init:0\.4\.5 is older/);
    t.notMatch(reason, /log-format/, '0.4.5 has --log-format');
  });
  t.test('stdin: true adds --interactive; an image before 0.5.1 leaves it out with a warning', async (t) => {
    const input = pod({ containers: [container('shell', { command: ['/bin/sh'], stdin: true, tty: true, env: [DB] }), container('app', { command: ['/app'], stdin: false, env: [DB] })] });
    const current = mutateAndApply(input);
    t.strictSame(current.result.spec.containers[0]!.args, ['--provider=aws', '--interactive', '/bin/sh']);
    t.strictSame(current.result.spec.containers[1]!.args, ['--provider=aws', '/app']);
    t.strictSame(current.outcome.warnings, []);
    const old = mutateAndApply(input, facts(), { ...SETTINGS, image: 'ghcr.io/doitintl/secrets-init:0.5.0' });
    t.strictSame(old.result.spec.containers[0]!.args, ['--provider=aws', '/bin/sh']);
    t.equal(old.outcome.warnings.length, 1);
    t.match(old.outcome.warnings[0], /container "shell" has stdin: true, but the injected secrets-init \(ghcr\.io\/doitintl\/secrets-init:0\.5\.0\) predates --interactive \(0\.5\.1\)/);
  });
  t.test('stdin: true without tty: true gets no --interactive (secrets-init would fail without a terminal), with a warning', async (t) => {
    const input = pod({
      containers: [
        container('attach', { command: ['/app'], stdin: true, env: [DB] }),
        container('notty', { command: ['/app'], stdin: true, tty: false, env: [DB] }),
        container('ttyonly', { command: ['/app'], tty: true, env: [DB] }),
      ],
    });
    for (const image of [SETTINGS.image, 'ghcr.io/doitintl/secrets-init:0.5.0']) {
      const { result, outcome } = mutateAndApply(input, facts(), { ...SETTINGS, image });
      for (const wrapped of result.spec.containers) t.strictSame(wrapped.args, ['--provider=aws', '/app'], `${image}: ${wrapped.name}`);
      t.equal(outcome.warnings.length, 2, `${image}: one warning per stdin container, none for tty alone`);
      for (const [i, name] of ['attach', 'notty'].entries()) {
        t.match(outcome.warnings[i], new RegExp(`^container "${name}" has stdin: true without tty: true: .*the app starts without stdin; set tty: true if it reads stdin`));
      }
    }
  });
});

t.test('a command that starts with a word secrets-init takes for its own subcommand is denied, whatever its source', async (t) => {
  const denials: Array<[string, Pod, ReturnType<typeof facts>, RegExp]> = [
    [
      'an init container\'s own command',
      pod({ initContainers: [container('config', { command: ['cp', '/defaults/app.yaml', '/shared/'], env: [DB] })], containers: [container('app', { command: ['/app'] })] }),
      facts(),
      /^container "config" runs "cp", which secrets-init takes for its own subcommand "copy" and runs instead of the program \("--" does not prevent it\); write the program's absolute path in the container's command, such as "\/bin\/cp"$/,
    ],
    ['the image ENTRYPOINT', pod({ containers: [container('app', { env: [DB] })] }), facts(undefined, { app: { entrypoint: ['copy'], cmd: ['/src', '/dst'] } }), /^container "app" runs "copy", which secrets-init takes for its own subcommand "copy"/],
    ['the image CMD without ENTRYPOINT', pod({ containers: [container('app', { env: [DB] })] }), facts(undefined, { app: { entrypoint: [], cmd: ['help'] } }), /^container "app" runs "help", which secrets-init takes for its own subcommand "help".*such as "\/bin\/help"$/],
    ['the container\'s args after an empty ENTRYPOINT', pod({ containers: [container('app', { args: ['h'], env: [DB] })] }), facts(undefined, { app: { entrypoint: [], cmd: ['/app'] } }), /^container "app" runs "h", which secrets-init takes for its own subcommand "help"/],
    ['the command annotation', pod({ containers: [container('app', { env: [DB] })] }, { 'secrets-init/command.app': '["cp", "-r"]' }), facts(), /^container "app" runs "cp"/],
    ['after a supervisor', argoPod({ command: [...ARGO_EMISSARY, 'cp', 'a', 'b'], env: [DB] }), facts(), /^container "main" runs "cp", which secrets-init takes for its own subcommand "copy"/],
    [
      'an exec probe wrapped by wrap-exec',
      pod({ containers: [container('app', { command: ['/app'], env: [DB], livenessProbe: { exec: { command: ['h'] } } })] }, { 'secrets-init/wrap-exec': 'true' }),
      facts(),
      /^container "app": its livenessProbe runs "h", which secrets-init takes for its own subcommand "help" and runs instead of the program \("--" does not prevent it\); write the program's absolute path, such as "\/bin\/h"$/,
    ],
  ];
  for (const [label, input, resolved, reason] of denials) t.match(denied(computePodMutation(input, resolved, SETTINGS)), reason, label);
  const allowed: Array<[string, Container]> = [
    ['the absolute path', container('app', { command: ['/bin/cp', 'a', 'b'], env: [DB] })],
    ['the word later in the line', container('app', { command: ['sh', '-c', 'cp a b'], args: ['help'], env: [DB] })],
    ['another case or a longer word', container('app', { command: ['Copy'], env: [DB] })],
    ['a probe when wrap-exec is off', container('app', { command: ['/app'], env: [DB], livenessProbe: { exec: { command: ['cp', 'a', 'b'] } } })],
  ];
  for (const [label, wrapped] of allowed) {
    const { result } = mutateAndApply(pod({ containers: [wrapped] }));
    t.strictSame(result.spec.containers[0]!.args, ['--provider=aws', ...(wrapped.command ?? []), ...(wrapped.args ?? [])], label);
  }
  const plain = pod({ containers: [container('app', { command: ['cp', 'a', 'b'] })] });
  t.strictSame(computePodMutation(plain, facts(), SETTINGS), { allowed: true, warnings: [] }, 'a container that is not wrapped may run cp');
});

t.test('before 0.4.0 secrets-init has no copy subcommand: a command that starts with cp or copy is wrapped, help still is not', async (t) => {
  const old: InjectionSettings = { ...SETTINGS, image: 'ghcr.io/doitintl/secrets-init:0.3.6' };
  for (const word of ['cp', 'copy']) {
    const { result } = mutateAndApply(pod({ initContainers: [container('config', { command: [word, '/defaults/app.yaml', '/shared/'], env: [DB] })], containers: [container('app', { command: ['/app'] })] }), facts(), old);
    t.strictSame(findContainer(result, 'config')?.args, ['--provider=aws', word, '/defaults/app.yaml', '/shared/'], word);
    t.strictSame(result.spec.initContainers?.[0]?.args, ['cp', '/usr/local/bin/secrets-init', '/helper/bin']);
  }
  t.match(denied(computePodMutation(pod({ containers: [container('app', { command: ['help'], env: [DB] })] }), facts(), old)), /runs "help", which secrets-init takes for its own subcommand "help"/);
});

t.test('Windows pods', async (t) => {
  const windows = (spec: Record<string, unknown>, env = [DB]) => pod({ containers: [container('app', { command: ['app.exe'], env })], ...spec });
  for (const [label, spec] of [
    ['spec.os.name', { os: { name: 'windows' } }],
    ['nodeSelector', { nodeSelector: { 'kubernetes.io/os': 'windows' } }],
    ['required affinity', { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/os', operator: 'In', values: ['windows'] }] }] } } } }],
  ] as const) {
    t.test(`a Windows pod (${label}) that needs injection is denied with what to do`, async (t) => {
      const input = windows(spec);
      const reason = denied(computePodMutation(input, facts(), SETTINGS));
      t.match(reason, /runs on Windows, and secrets-init runs on Linux only: resolve its secrets another way/);
      const noCommand = pod({ containers: [container('app', { env: [DB] })], ...spec });
      t.strictSame(imageConfigsNeeded(planPod(noCommand, facts(), SETTINGS)), [], 'no registry lookup for a pod denied anyway');
    });
  }
  t.test('a Windows pod without references is unaffected', async (t) => {
    t.strictSame(computePodMutation(windows({ os: { name: 'windows' } }, []), facts(), SETTINGS), { allowed: true, warnings: [] });
  });
  t.test('a Linux pod is injected', async (t) => {
    const { result } = mutateAndApply(windows({ os: { name: 'linux' }, nodeSelector: { 'kubernetes.io/os': 'linux' } }));
    t.strictSame(result.spec.containers[0]!.command, [WRAPPER]);
  });
});

/** A step pod as Argo's workflow controller creates it (emissary executor). */
function argoPod(main: Partial<Container>): Pod {
  return pod({
    initContainers: [container('init', { image: 'quay.io/argoproj/argoexec:v3.6.2', command: ['argoexec', 'init', '--loglevel', 'info'] })],
    containers: [
      container('wait', { image: 'quay.io/argoproj/argoexec:v3.6.2', command: ['argoexec', 'wait', '--loglevel', 'info'] }),
      container('main', { image: 'python:3.12', ...main }),
    ],
    volumes: [{ name: 'var-run-argo', emptyDir: {} }],
  });
}

t.test('supervisor commands', async (t) => {
  t.test('Argo: secrets-init runs the step under the executor, not the executor itself', async (t) => {
    const input = argoPod({ command: [...ARGO_EMISSARY, 'python', 'main.py'], args: ['--date', '$(DATE)'], env: [DB] });
    const { result, outcome } = mutateAndApply(input);
    validatePod(result);
    const main = findContainer(result, 'main')!;
    t.strictSame(main.command, [...ARGO_EMISSARY, WRAPPER]);
    t.strictSame(main.args, ['--provider=aws', 'python', 'main.py', '--date', '$(DATE)']);
    t.strictSame(findContainer(result, 'wait'), input.spec.containers[0], 'the wait container is untouched');
    t.strictSame(findContainer(result, 'init'), input.spec.initContainers![0], 'Argo\'s init container is untouched');
    t.strictSame(JSON.parse(result.metadata!.annotations!['secrets-init/status']!), { containers: ['main'], initContainers: [] });
    t.strictSame(outcome.warnings, []);
    t.strictSame(settled(result), { allowed: true, warnings: [] }, 'reinvocation changes nothing');
  });
  t.test("Argo 3.5 and later: the executor's log options stand between emissary and --", async (t) => {
    // What Argo's controller writes since 3.5: argoexec emissary <executor log options> -- <step>.
    const executor = ['/var/run/argo/argoexec', 'emissary', '--loglevel', 'info', '--log-format', 'text', '--gloglevel', '0', '--'];
    const input = argoPod({ command: [...executor, 'python', 'main.py'], args: ['--date', '$(DATE)'], env: [DB] });
    const { result } = mutateAndApply(input);
    validatePod(result);
    const main = findContainer(result, 'main')!;
    t.strictSame(main.command, [...executor, WRAPPER], 'secrets-init under the executor, not around it');
    t.strictSame(main.args, ['--provider=aws', 'python', 'main.py', '--date', '$(DATE)']);
    t.strictSame(settled(result), { allowed: true, warnings: [] }, 'reinvocation changes nothing');
    const split = argoPod({ command: ['/var/run/argo/argoexec', 'emissary', '--loglevel=debug'], args: ['--', 'python', 'main.py'], env: [DB] });
    const splitMain = findContainer(mutateAndApply(split).result, 'main')!;
    t.strictSame(splitMain.command, ['/var/run/argo/argoexec', 'emissary', '--loglevel=debug', '--', WRAPPER], 'options written with "=", the line split between command and args');
    t.strictSame(splitMain.args, ['--provider=aws', 'python', 'main.py']);
    const bare = denied(computePodMutation(argoPod({ command: executor, env: [DB] }), facts(), SETTINGS));
    t.match(bare, /container "main" runs the supervisor "\/var\/run\/argo\/argoexec emissary --loglevel info --log-format text --gloglevel 0 --" with no command after it/);
  });
  t.test('the options come after the supervisor too', async (t) => {
    const input = argoPod({ command: [...ARGO_EMISSARY, 'sh'], stdin: true, tty: true, env: [DB] });
    const { result } = mutateAndApply(input, facts(), { ...SETTINGS, runtime: { exitEarly: true } });
    t.strictSame(findContainer(result, 'main')!.command, [...ARGO_EMISSARY, WRAPPER]);
    t.strictSame(findContainer(result, 'main')!.args, ['--provider=aws', '--exit-early', '--interactive', 'sh']);
  });
  t.test('a configured supervisor from the image ENTRYPOINT', async (t) => {
    const settings = { ...SETTINGS, supervisors: [ARGO_EMISSARY, ['/sbin/tini', '--']] };
    const input = pod({ containers: [container('app', { env: [DB] })] });
    const image = { entrypoint: ['/sbin/tini', '--'], cmd: ['/app', '--home=$HOME'] };
    const { result } = mutateAndApply(input, facts(undefined, { app: image }), settings);
    t.strictSame(result.spec.containers[0]!.command, ['/sbin/tini', '--', WRAPPER]);
    t.strictSame(result.spec.containers[0]!.args, ['--provider=aws', '/app', '--home=$$HOME']);
    t.strictSame(settled(result, settings), { allowed: true, warnings: [] }, 'idempotent');
    const unknown = mutateAndApply(input, facts(undefined, { app: image }));
    t.strictSame(unknown.result.spec.containers[0]!.command, [WRAPPER], 'without the flag tini is wrapped like any command');
  });
  t.test('a supervisor with nothing after it is denied', async (t) => {
    const reason = denied(computePodMutation(argoPod({ command: [...ARGO_EMISSARY], env: [DB] }), facts(), SETTINGS));
    t.match(reason, /container "main" runs the supervisor "\/var\/run\/argo\/argoexec emissary --" with no command after it/);
  });
  t.test('a container added after injection under a supervisor is wrapped on reinvocation; the wrapped one is not', async (t) => {
    const first = mutateAndApply(argoPod({ command: [...ARGO_EMISSARY, 'python', 'main.py'], env: [DB] })).result;
    first.spec.containers.push(container('late', { command: [...ARGO_EMISSARY, 'late.sh'], env: [DB] }));
    const { result, mutation } = mutateAndApply(first);
    t.strictSame(mutation.wraps.map((w) => w.name), ['late']);
    t.strictSame(findContainer(result, 'late')!.command, [...ARGO_EMISSARY, WRAPPER]);
    t.strictSame(findContainer(result, 'main'), findContainer(first, 'main'));
    t.strictSame(JSON.parse(result.metadata!.annotations!['secrets-init/status']!), { containers: ['main', 'late'], initContainers: [] });
  });
});

t.test('native sidecars (init containers with restartPolicy: Always)', async (t) => {
  const sidecar = (name: string, env: Container['env'] = [DB]) => container(name, { command: [`/${name}`], restartPolicy: 'Always', env, readinessProbe: { httpGet: { path: '/ready', port: 8080 } } });
  const ordinary = (name: string, env: Container['env'] = [DB]) => container(name, { command: [`/${name}`], env });
  const layouts: Array<[string, Container[]]> = [
    ['a sidecar before the ordinary init containers', [sidecar('proxy'), ordinary('migrate'), ordinary('seed', [])]],
    ['a sidecar between them', [ordinary('migrate'), sidecar('proxy'), ordinary('seed')]],
    ['a sidecar after them', [ordinary('migrate', []), ordinary('seed'), sidecar('proxy')]],
    ['sidecars only, one without references', [sidecar('proxy'), sidecar('logs', [])]],
  ];
  for (const [label, initContainers] of layouts) {
    t.test(label, async (t) => {
      const input = pod({ initContainers, containers: [container('app', { command: ['/app'], env: [DB] })] });
      const { result } = mutateAndApply(input);
      validatePod(result);
      const inits = result.spec.initContainers!;
      t.equal(inits[0]!.name, 'copy-secrets-init', 'ours first, ahead of every wrapped init container');
      t.strictSame(inits.slice(1).map((c) => c.name), initContainers.map((c) => c.name), 'the others keep their order');
      for (const before of initContainers) {
        const after = findContainer(result, before.name)!;
        const holds = (before.env ?? []).length > 0;
        if (!holds) {
          t.strictSame(after, before, `${before.name} is untouched`);
          continue;
        }
        t.strictSame(after.command, [WRAPPER], `${before.name} is wrapped`);
        t.strictSame(after.args, ['--provider=aws', `/${before.name}`]);
        const { command: _c, args: _a, volumeMounts: _v, ...restAfter } = after;
        const { command: _c2, args: _a2, ...restBefore } = before;
        t.strictSame(restAfter, restBefore, `${before.name}: restartPolicy, probes and every other field kept`);
      }
      t.strictSame(settled(result), { allowed: true, warnings: [] }, 'reinvocation changes nothing');
    });
  }
  t.test('a sidecar added in front after injection is wrapped and ours is moved ahead of it', async (t) => {
    const first = mutateAndApply(pod({ initContainers: [ordinary('migrate')], containers: [container('app', { command: ['/app'] })] })).result;
    first.spec.initContainers!.unshift(sidecar('mesh'));
    const { result } = mutateAndApply(first);
    validatePod(result);
    t.strictSame(result.spec.initContainers!.map((c) => c.name), ['copy-secrets-init', 'mesh', 'migrate']);
    t.equal(findContainer(result, 'mesh')!.restartPolicy, 'Always');
    t.strictSame(findContainer(result, 'mesh')!.command, [WRAPPER]);
    t.strictSame(settled(result), { allowed: true, warnings: [] });
  });
});

t.test('exec probes and lifecycle hooks', async (t) => {
  const probed = (annotations?: Record<string, string>) =>
    pod(
      {
        containers: [
          container('app', {
            command: ['/app'],
            env: [DB, { name: 'PLAIN', value: 'x' }, { name: 'URL', value: 'postgres://u:$(DB_PASSWORD)@db' }],
            livenessProbe: { exec: { command: ['sh', '-c', 'pg_isready -d "$URL"'] }, periodSeconds: 10 },
            readinessProbe: { exec: { command: ['check', '$PLAIN'] } },
            startupProbe: { httpGet: { path: '/', port: 80 } },
            lifecycle: { preStop: { exec: { command: ['sh', '-c', 'logout ${DB_PASSWORD} $(DB_PASSWORD)'] } }, postStart: { exec: { command: ['/hook'] } } },
          }),
        ],
      },
      annotations,
    );
  t.test('a probe or hook that uses a variable holding a reference gets a warning naming it', async (t) => {
    const { result, outcome } = mutateAndApply(probed());
    t.strictSame(findContainer(result, 'app')!.livenessProbe, probed().spec.containers[0]!['livenessProbe'], 'probes are left as they are');
    t.equal(outcome.warnings.length, 2);
    t.match(outcome.warnings[0], /^container "app": the livenessProbe uses URL, which holds a secret reference; .*secrets-init\/wrap-exec: "true"/);
    t.match(outcome.warnings[1], /^container "app": the preStop hook uses DB_PASSWORD, which holds a secret reference/);
  });
  t.test('secrets-init/wrap-exec: "true" wraps every exec probe and hook, with the provider and options', async (t) => {
    const settings = { ...SETTINGS, runtime: { exitEarly: true } };
    const input = probed({ 'secrets-init/wrap-exec': 'true' });
    input.spec.containers[0]!.stdin = true;
    input.spec.containers[0]!.tty = true;
    const { result, outcome } = mutateAndApply(input, facts(), settings);
    validatePod(result);
    const app = findContainer(result, 'app')!;
    const exec = (command: string[]) => ({ exec: { command: [WRAPPER, '--provider=aws', '--exit-early', ...command] } });
    t.strictSame(app.args, ['--provider=aws', '--exit-early', '--interactive', '/app']);
    t.strictSame(app.livenessProbe, { ...exec(['sh', '-c', 'pg_isready -d "$URL"']), periodSeconds: 10 });
    t.strictSame(app.readinessProbe, exec(['check', '$PLAIN']));
    t.strictSame(app.startupProbe, { httpGet: { path: '/', port: 80 } }, 'an httpGet probe is not an exec one');
    t.strictSame(app.lifecycle, { preStop: exec(['sh', '-c', 'logout ${DB_PASSWORD} $(DB_PASSWORD)']), postStart: exec(['/hook']) });
    t.strictSame(outcome.warnings, []);
    t.strictSame(settled(result, settings), { allowed: true, warnings: [] }, 'idempotent');
  });
  t.test('under wrap-exec, a probe that already runs under secrets-init is not wrapped again', async (t) => {
    const already = { exec: { command: [WRAPPER, '--provider=aws', 'check'] } };
    const input = pod({ containers: [container('app', { command: ['/app'], env: [DB], livenessProbe: already, readinessProbe: { exec: { command: ['ready'] } } })] }, { 'secrets-init/wrap-exec': 'true' });
    const app = findContainer(mutateAndApply(input).result, 'app')!;
    t.strictSame(app.livenessProbe, already);
    t.strictSame(app.readinessProbe, { exec: { command: [WRAPPER, '--provider=aws', 'ready'] } });
  });
  t.test('containers without references keep their probes; a malformed wrap-exec is denied', async (t) => {
    const input = probed({ 'secrets-init/wrap-exec': 'true' });
    input.spec.containers.push(container('other', { command: ['/o'], livenessProbe: { exec: { command: ['ok'] } } }));
    const { result } = mutateAndApply(input);
    t.strictSame(findContainer(result, 'other')!.livenessProbe, { exec: { command: ['ok'] } });
    t.match(denied(computePodMutation(probed({ 'secrets-init/wrap-exec': 'yes' }), facts(), SETTINGS)), /annotation secrets-init\/wrap-exec must be "true" or "false", not "yes"/);
  });
});

t.test('under wrap-exec, $(NAME) of a variable holding a reference in an exec probe gets a warning; hooks and the shell form do not', async (t) => {
  const probes = (command: string[]) => ({
    livenessProbe: { exec: { command } },
    lifecycle: { preStop: { exec: { command: ['sh', '-c', 'drain $(DB_PASSWORD)'] } } },
  });
  const wrapped = (command: string[]) => mutateAndApply(pod({ containers: [container('app', { command: ['/app'], env: [DB], ...probes(command) })] }, { 'secrets-init/wrap-exec': 'true' })).outcome.warnings;
  const warnings = wrapped(['sh', '-c', 'check --password=$(DB_PASSWORD)']);
  t.equal(warnings.length, 1, 'the probe, not the hook');
  t.match(warnings[0], /^container "app": its livenessProbe uses \$\(DB_PASSWORD\), which the kubelet replaces before the probe runs, never with the secret/);
  t.strictSame(wrapped(['sh', '-c', 'check --password="$DB_PASSWORD"']), [], 'the shell form reads the resolved variable');
  t.strictSame(wrapped(['sh', '-c', 'check $$(DB_PASSWORD)']), [], '$$( is not expanded');
});

t.test('$(NAME) of a variable holding a reference in the container\'s own command or args gets a warning', async (t) => {
  const input = pod({ containers: [container('app', { command: ['/app', '--password=$(DB_PASSWORD)'], args: ['$$(DB_PASSWORD)', '$(PLAIN)', '$(DB_PASSWORD)'], env: [DB, { name: 'PLAIN', value: 'x' }] })] });
  const { outcome } = mutateAndApply(input);
  t.equal(outcome.warnings.length, 1);
  t.match(outcome.warnings[0], /^container "app": its command or args use \$\(DB_PASSWORD\), which the kubelet replaces with the secret reference itself before secrets-init starts/);
  const argsOnly = mutateAndApply(pod({ containers: [container('app', { command: ['/app'], args: ['--password=$(DB_PASSWORD)'], env: [DB] })] }));
  t.match(argsOnly.outcome.warnings, [/^container "app": its command or args use \$\(DB_PASSWORD\)/], 'in args alone too');
  const shell = mutateAndApply(pod({ containers: [container('app', { command: ['sh', '-c', 'exec /app --password="$DB_PASSWORD"'], env: [DB] })] }));
  t.strictSame(shell.outcome.warnings, [], 'the shell form reads the resolved variable');
  const image = mutateAndApply(pod({ containers: [container('app', { env: [DB] })] }), facts(undefined, { app: { entrypoint: ['/app', '$(DB_PASSWORD)'], cmd: [] } }));
  t.strictSame(image.outcome.warnings, [], 'words from the image are not expanded by the kubelet');
});

t.test('bounded work: too many variables are denied; many references are analysed in linear time', async (t) => {
  const env = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `V${i}`, value: i % 2 === 0 ? AWS_REFS[0] : `plain-${i}` }));
  const over = computePodMutation(pod({ containers: [container('a', { command: ['/a'], env: env(6_000) }), container('b', { command: ['/b'], env: env(4_001) })] }), facts(), SETTINGS);
  t.match(denied(over), /the pod defines more than 10000 environment variables \(env entries, and the keys its envFrom take from Secrets and ConfigMaps\); split it, or raise --max-variables-per-pod/);
  const data = Object.fromEntries(Array.from({ length: 3_000 }, (_, i) => [`K${i}`, AWS_REFS[2]]));
  const viaEnvFrom = pod({ containers: [container('a', { command: ['/a'], envFrom: ['A_', 'B_', 'C_', 'D_'].map((prefix) => ({ prefix, configMapRef: { name: 'big' } })) })] });
  t.match(denied(computePodMutation(viaEnvFrom, facts(objects([[{ kind: 'ConfigMap', name: 'big' }, data]])), SETTINGS)), /more than 10000 environment variables/, 'keys expanded by envFrom count');
  // 200,000 references in one container: a quadratic analysis would not finish within the test's timeout.
  const { result } = mutateAndApply(pod({ containers: [container('a', { command: ['/a'], env: env(400_000) })] }), facts(), { ...SETTINGS, limits: { ...SETTINGS.limits, variablesPerPod: 1_000_000 } });
  t.strictSame(result.spec.containers[0]!.args, ['--provider=aws', '/a']);
});

// Mutating webhooks see pods before the API server validates them: container names may repeat.
t.test('the command annotation is read once for all the containers of its name', async (t) => {
  const annotation = `["/from-annotation"]${' '.repeat(100_000)}`;
  const parse = JSON.parse;
  let parsed = 0;
  t.teardown(() => {
    JSON.parse = parse;
  });
  JSON.parse = (text: string, reviver?: Parameters<typeof parse>[1]): unknown => {
    if (text === annotation) parsed++;
    return parse(text, reviver);
  };
  // 5,000 containers (400 KB): each parsed the 100 KB annotation again (and a 2 MiB request
  // could make 9,000 containers parse 1 MB, 2 s of CPU).
  const many = pod({ containers: Array.from({ length: 5_000 }, () => container('app', { env: [DB] })) }, { 'secrets-init/command.app': annotation });
  const outcome = computePodMutation(many, facts(), SETTINGS);
  t.equal(parsed, 1);
  t.equal(outcome.allowed && outcome.mutation?.wraps.length, 5_000);
  t.strictSame(outcome.allowed && outcome.mutation?.wraps[4_999]?.args, ['--provider=aws', '/from-annotation']);

  const unknownFields = pod({ containers: [container('app', { env: [DB] })] }, { 'secrets-init/command.app': JSON.stringify({ entrypoint: ['/app'], [`x${'y'.repeat(100_000)}`]: 1 }) });
  const reason = denied(computePodMutation(unknownFields, facts(), SETTINGS));
  t.match(reason, /^annotation secrets-init\/command\.app has unknown field\(s\) xyyy/);
  t.ok(reason.length < 400, 'the unknown fields are cut short: the problem is repeated for every container of the name');
});

t.test("an image's command shared by thousands of containers is copied into their args only up to a bound", async (t) => {
  const words = Array.from({ length: 1_000 }, (_, i) => `--option-${i}`);
  // 1,000 containers of one name and one annotation of 15 KB: 15 MB of args (and a 2 MiB
  // request, with 10,000 containers and a 1 MB annotation, gigabytes: past the heap).
  const annotated = pod({ containers: Array.from({ length: 1_000 }, () => container('app', { env: [DB] })) }, { 'secrets-init/command.app': JSON.stringify(words) });
  const reason = denied(computePodMutation(annotated, facts(), SETTINGS));
  t.match(reason, /^the images' ENTRYPOINT and CMD \(or the secrets-init\/command\.<container> annotations\), which each container without "command" gets a copy of in its args, pass 1 MiB in all at container "app"; set "command" on the containers$/);
  // Likewise one image config (from a registry) for 1,000 containers.
  const names = Array.from({ length: 1_000 }, (_, i) => `c${i}`);
  const config = { entrypoint: ['/app'], cmd: words };
  const sameImage = pod({ containers: names.map((name) => container(name, { env: [DB] })) });
  t.match(denied(computePodMutation(sameImage, facts(undefined, Object.fromEntries(names.map((name) => [name, config]))), SETTINGS)), /pass 1 MiB in all at container "c\d+"/);
  // Container args replace CMD: only the ENTRYPOINT is copied then.
  const withArgs = pod({ containers: names.map((name) => container(name, { env: [DB], args: ['serve'] })) });
  const { result } = mutateAndApply(withArgs, facts(undefined, Object.fromEntries(names.map((name) => [name, config]))));
  t.strictSame(result.spec.containers[999]!.args, ['--provider=aws', '/app', 'serve']);
  // Below the bound: 50 containers of that image are wrapped as ever.
  const fifty = pod({ containers: names.slice(0, 50).map((name) => container(name, { env: [DB] })) });
  const wrapped = mutateAndApply(fifty, facts(undefined, Object.fromEntries(names.slice(0, 50).map((name) => [name, config]))));
  t.strictSame(wrapped.result.spec.containers[49]!.args, ['--provider=aws', '/app', ...words]);
  // Empty words weigh too: each takes a place in the args and the patch (1,000 containers × 300 "" pass the bound).
  const empties = pod({ containers: Array.from({ length: 1_000 }, () => container('app', { env: [DB] })) }, { 'secrets-init/command.app': JSON.stringify(Array.from({ length: 300 }, () => '')) });
  t.match(denied(computePodMutation(empties, facts(), SETTINGS)), /pass 1 MiB in all at container "app"/);
});

t.test('the patch is bounded: thousands of small containers with probes and hooks under wrap-exec are denied', async (t) => {
  const handler = { exec: { command: ['check'] } };
  const probed = (n: number) =>
    pod(
      { containers: Array.from({ length: n }, (_, i) => container(`c${i}`, { command: ['/app'], env: [DB], livenessProbe: handler, readinessProbe: handler, startupProbe: handler, lifecycle: { postStart: handler, preStop: handler } })) },
      { 'secrets-init/wrap-exec': 'true', 'secrets-init/exit-early': 'true', 'secrets-init/log-format': 'json' },
    );
  // 6,000 containers (a 2 MiB request): a patch of 10 MB, six times the pod.
  t.match(denied(computePodMutation(probed(6_000), facts(), SETTINGS)), /^the patch would take more than 2 MiB at container "c\d+" \(wrapping writes the command line of each container into its args, and that of each probe and hook under secrets-init\/wrap-exec\), more than the API server stores of a pod; split the pod$/);
  // 500 such containers (a patch of about 800 KB) are wrapped as ever.
  const { result } = mutateAndApply(probed(500));
  t.strictSame(result.spec.containers[499]!.livenessProbe, { exec: { command: [WRAPPER, '--provider=aws', '--exit-early', '--log-format=json', 'check'] } });
});

t.test('a pod whose names or mounts clash with the injection is denied before any image lookup', async (t) => {
  const needsImage = (fields: Partial<Container>) => container('app', { env: [DB], ...fields });
  const cases: Array<[string, Pod, RegExp]> = [
    ['a mount at our path', pod({ containers: [needsImage({ volumeMounts: [{ name: 'data', mountPath: '/helper/bin' }] })], volumes: [{ name: 'data', emptyDir: {} }] }), /already mounts volume "data" at \/helper\/bin/],
    ['our volume name taken', pod({ containers: [needsImage({})], volumes: [{ name: 'secrets-init-bin', configMap: { name: 'x' } }] }), /not an emptyDir/],
    ['our init container name taken', pod({ containers: [needsImage({}), container('copy-secrets-init', { command: ['/x'] })] }), /is reserved/],
    ['our init container name taken by one that does not mount our volume', pod({ initContainers: [container('copy-secrets-init', { command: ['/x'] })], containers: [needsImage({})] }), /the container name "copy-secrets-init" is reserved/],
  ];
  for (const [label, input, reason] of cases) {
    const plan = planPod(input, facts(), SETTINGS);
    t.strictSame(imageConfigsNeeded(plan), [], `${label}: no image config is asked for`);
    t.match(denied(computePodMutation(input, facts(), SETTINGS)), reason, label);
  }
  const annotated = pod({ containers: [needsImage({})] }, { 'secrets-init/command.app': '["/from-annotation"]' });
  t.strictSame(planPod(annotated, facts(), SETTINGS).overrides.get('app'), { config: { entrypoint: ['/from-annotation'], cmd: [] } }, 'the command annotation is parsed once, into the plan');
});
