import t from 'tap';
import type { Operation } from 'fast-json-patch';
import { computePodMutation, imageConfigsNeeded, planPod } from '../../src/core/pod-mutation.js';
import type { MutationOutcome } from '../../src/core/pod-mutation.js';
import { toJsonPatch } from '../../src/core/json-patch.js';
import { buildInitContainer } from '../../src/core/init-container.js';
import type { Pod } from '../../src/core/pod.js';
import {
  AWS_REFS,
  GOOGLE_REFS,
  NAMESPACE,
  SETTINGS,
  container,
  deepClone,
  facts,
  findContainer,
  mutateAndApply,
  objects,
  pod,
  validatePod,
} from '../helpers/pods.js';

const WRAPPER = '/helper/bin/secrets-init';
const MOUNT = { name: 'secrets-init-bin', mountPath: '/helper/bin' };
const STATUS = 'secrets-init/status';

function status(result: Pod): { containers: string[]; initContainers: string[] } {
  const value = result.metadata?.annotations?.[STATUS];
  if (value === undefined) throw new Error('no status annotation');
  return JSON.parse(value) as { containers: string[]; initContainers: string[] };
}

function denied(outcome: MutationOutcome): string {
  if (outcome.allowed) throw new Error(`expected a denial, got allowed (${outcome.mutation ? 'with' : 'without'} mutation)`);
  return outcome.reason;
}

function names(list: Array<{ name: string }> | undefined): string[] {
  return (list ?? []).map((c) => c.name);
}

t.test('a direct env reference wraps the container and adds the init container and volume', async (t) => {
  const input = pod({
    containers: [container('app', { command: ['/app', '--serve'], args: ['--port', '8080'], env: [{ name: 'DB_PASSWORD', value: AWS_REFS[0] }, { name: 'MODE', value: 'prod' }] })],
  });
  const { result, outcome } = mutateAndApply(input);
  validatePod(result);
  t.strictSame(outcome.warnings, []);
  const app = result.spec.containers[0]!;
  t.strictSame(app.command, [WRAPPER]);
  t.strictSame(app.args, ['--provider=aws', '/app', '--serve', '--port', '8080']);
  t.strictSame(app.volumeMounts, [MOUNT]);
  t.strictSame(app.env, input.spec.containers[0]!.env, 'env is left for secrets-init to resolve');
  t.strictSame(app.image, input.spec.containers[0]!.image);

  t.equal(result.spec.initContainers?.length, 1);
  const init = result.spec.initContainers![0]!;
  t.equal(init.name, 'copy-secrets-init');
  t.equal(init.image, SETTINGS.image);
  t.equal(init.imagePullPolicy, 'IfNotPresent');
  t.strictSame(init.args, ['copy', '/helper/bin']);
  t.strictSame(init.volumeMounts, [MOUNT]);
  t.strictSame(init, buildInitContainer(SETTINGS));

  t.strictSame(result.spec.volumes, [{ name: 'secrets-init-bin', emptyDir: { medium: 'Memory' } }]);
  t.strictSame(status(result), { containers: ['app'], initContainers: [] });
  t.strictSame(input.spec.initContainers, undefined, 'the input pod is not modified');
});

/**
 * Kubernetes' QoS class of a pod (ComputePodQOS), written from its documented rule for the
 * quantities these tests use: a table of amounts, not the webhook's parser. Requests not
 * written default to the limits, as the API server defaults them.
 */
const AMOUNTS: Record<string, number> = { '0': 0, '1500u': 1.5, '1500000n': 1.5, '10m': 10, '500m': 500, '0.5': 500, '1': 1000, '2': 2000, '2000m': 2000, '10Mi': 10 * 2 ** 20, '50Mi': 50 * 2 ** 20, '512Mi': 2 ** 29, '1Gi': 2 ** 30, '1024Mi': 2 ** 30 };
function qosClass(target: Pod): 'Guaranteed' | 'Burstable' | 'BestEffort' {
  const requested: Record<string, number> = {};
  const limited: Record<string, number> = {};
  let guaranteed = true;
  for (const c of [...target.spec.containers, ...(target.spec.initContainers ?? [])]) {
    const limits = c.resources?.limits ?? {};
    const requests = { ...limits, ...c.resources?.requests };
    for (const name of ['cpu', 'memory']) {
      const limit = limits[name] === undefined ? 0 : AMOUNTS[String(limits[name])]!;
      const request = requests[name] === undefined ? 0 : AMOUNTS[String(requests[name])]!;
      if (request > 0) requested[name] = (requested[name] ?? 0) + request;
      if (limit > 0) limited[name] = (limited[name] ?? 0) + limit;
      else guaranteed = false;
    }
  }
  if (Object.keys(requested).length === 0 && Object.keys(limited).length === 0) return 'BestEffort';
  const equal = Object.keys(requested).length === Object.keys(limited).length && Object.entries(requested).every(([name, amount]) => limited[name] === amount);
  return guaranteed && equal ? 'Guaranteed' : 'Burstable';
}

t.test('a Guaranteed pod stays Guaranteed: the init container then requests what it is limited to', async (t) => {
  const DB = { name: 'DB', value: AWS_REFS[0] };
  const exact = (cpu: string, memory: string) => ({ requests: { cpu, memory }, limits: { cpu, memory } });
  const guaranteed: Array<[string, Pod]> = [
    ['requests equal to limits', pod({ containers: [container('app', { command: ['/app'], env: [DB], resources: exact('2', '1Gi') })] })],
    ['limits alone (requests default to them)', pod({ containers: [container('app', { command: ['/app'], env: [DB], resources: { limits: { cpu: '500m', memory: '512Mi' } } })] })],
    ['a request for one resource alone (the other defaults to its limit)', pod({ containers: [container('app', { command: ['/app'], env: [DB], resources: { requests: { cpu: '500m' }, limits: { cpu: '500m', memory: '512Mi' } } })] })],
    // The API server writes quantities finer than 1m with n and u (0.0015 becomes "1500u").
    ['a CPU amount finer than a millicore', pod({ containers: [container('app', { command: ['/app'], env: [DB], resources: { requests: { cpu: '1500000n', memory: '1Gi' }, limits: { cpu: '1500u', memory: '1Gi' } } })] })],
    ['the same amounts spelled differently', pod({ containers: [container('app', { command: ['/app'], env: [DB], resources: { requests: { cpu: '0.5', memory: '1024Mi' }, limits: { cpu: '500m', memory: '1Gi' } } })] })],
    [
      'init containers and sidecars too, wrapped or not',
      pod({
        initContainers: [container('migrate', { command: ['/migrate'], env: [DB], resources: exact('1', '512Mi') }), container('proxy', { command: ['/proxy'], restartPolicy: 'Always', resources: exact('500m', '512Mi') })],
        containers: [container('app', { command: ['/app'], resources: exact('2', '1Gi') }), container('worker', { command: ['/w'], env: [DB], resources: exact('1', '1Gi') })],
      }),
    ],
  ];
  for (const [label, input] of guaranteed) {
    t.equal(qosClass(input), 'Guaranteed', `${label}: Guaranteed before`);
    const { result } = mutateAndApply(input);
    validatePod(result);
    t.strictSame(result.spec.initContainers![0]!.resources, { requests: { cpu: '10m', memory: '50Mi' }, limits: { cpu: '10m', memory: '50Mi' } }, label);
    t.equal(qosClass(result), 'Guaranteed', `${label}: Guaranteed after`);
  }
  const other: Array<[string, Pod]> = [
    ['requests below limits', pod({ containers: [container('app', { command: ['/app'], env: [DB], resources: { requests: { cpu: '500m', memory: '512Mi' }, limits: { cpu: '1', memory: '512Mi' } } })] })],
    ['no memory limit', pod({ containers: [container('app', { command: ['/app'], env: [DB], resources: { limits: { cpu: '1' } } })] })],
    ['a zero limit', pod({ containers: [container('app', { command: ['/app'], env: [DB], resources: { limits: { cpu: '0', memory: '1Gi' } } })] })],
    ['another container without resources', pod({ containers: [container('app', { command: ['/app'], env: [DB], resources: exact('1', '1Gi') }), container('log', { command: ['/log'] })] })],
    ['an init container that is Burstable', pod({ initContainers: [container('init', { command: ['/i'], resources: { requests: { cpu: '10m', memory: '10Mi' }, limits: { cpu: '1', memory: '1Gi' } } })], containers: [container('app', { command: ['/app'], env: [DB], resources: exact('1', '1Gi') })] })],
    ['no resources at all', pod({ containers: [container('app', { command: ['/app'], env: [DB] })] })],
  ];
  for (const [label, input] of other) {
    t.not(qosClass(input), 'Guaranteed', `${label}: not Guaranteed before`);
    const { result } = mutateAndApply(input);
    t.strictSame(result.spec.initContainers![0]!.resources, { requests: { cpu: '10m', memory: '10Mi' }, limits: { cpu: '10m', memory: '50Mi' } }, `${label}: the reference's resources`);
  }
});

t.test('settings decide the image, pull policy, volume name and path', async (t) => {
  const settings = { ...SETTINGS, image: 'registry:5000/secrets-init:0.3.2', pullPolicy: 'Always' as const, volumeName: 'si', volumePath: '/opt/si' };
  const input = pod({ containers: [container('app', { command: ['/app'], env: [{ name: 'A', value: AWS_REFS[2] }] })] });
  const { result } = mutateAndApply(input, facts(), settings);
  const app = result.spec.containers[0]!;
  t.strictSame(app.command, ['/opt/si/secrets-init']);
  t.strictSame(app.args, ['--provider=aws', '/app']);
  t.strictSame(app.volumeMounts, [{ name: 'si', mountPath: '/opt/si' }]);
  t.strictSame(result.spec.volumes, [{ name: 'si', emptyDir: { medium: 'Memory' } }]);
  const init = result.spec.initContainers![0]!;
  t.equal(init.image, 'registry:5000/secrets-init:0.3.2');
  t.equal(init.imagePullPolicy, 'Always');
  t.strictSame(init.args, ['cp', '/usr/local/bin/secrets-init', '/opt/si']);
  t.strictSame(init.volumeMounts, [{ name: 'si', mountPath: '/opt/si' }]);
});

t.test('--init-container-user unset: the init container names no user, unless the pod runs as root', async (t) => {
  const settings = { ...SETTINGS, initContainerUser: 'unset' as const };
  const app = container('app', { command: ['/app'], env: [{ name: 'A', value: AWS_REFS[0] }] });
  const initOf = (securityContext: Record<string, unknown> | undefined) => {
    const input = pod({ containers: [app] });
    if (securityContext !== undefined) input.spec.securityContext = securityContext;
    const { result } = mutateAndApply(input, facts(), settings);
    validatePod(result);
    return result.spec.initContainers![0]!.securityContext as Record<string, unknown>;
  };
  // OpenShift assigns the uid (restricted SCCs refuse one outside the namespace's range).
  for (const context of [undefined, { runAsUser: 1000680000, fsGroup: 1000680000 }, { runAsNonRoot: true }]) {
    const init = initOf(context);
    t.equal(init['runAsNonRoot'], true, 'non-root');
    t.notOk('runAsUser' in init || 'runAsGroup' in init, `no runAsUser or runAsGroup with pod securityContext ${JSON.stringify(context) ?? 'none'}`);
  }
  // runAsNonRoot would keep the container from starting as the pod's uid 0.
  t.match(initOf({ runAsUser: 0 }), { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000 }, 'a pod running as root: 1000');
  t.match(initOf({ runAsUser: 0 }), { runAsUser: 1000 }, 'the same for the next pod');
  const { result } = mutateAndApply(pod({ containers: [app] }), facts(), { ...SETTINGS, initContainerUser: 5000 });
  t.match(result.spec.initContainers![0]!.securityContext, { runAsNonRoot: true, runAsUser: 5000, runAsGroup: 5000 }, 'a uid of the flag');
});

t.test('secretKeyRef and configMapKeyRef that resolve to references', async (t) => {
  const input = pod({
    containers: [
      container('api', { command: ['/api'], env: [{ name: 'DB', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } }] }),
      container('worker', { command: ['/worker'], env: [{ name: 'TOKEN', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'token' } } }] }),
      container('plain', { command: ['/plain'], env: [{ name: 'USER', valueFrom: { secretKeyRef: { name: 'db', key: 'username' } } }, { name: 'LEVEL', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'level' } } }] }),
    ],
  });
  const objectFacts = objects([
    [{ kind: 'Secret', name: 'db' }, { password: AWS_REFS[1], username: 'admin' }],
    [{ kind: 'ConfigMap', name: 'cfg' }, { token: GOOGLE_REFS[0], level: 'debug' }],
  ]);
  const { result, mutation } = mutateAndApply(input, facts(objectFacts));
  validatePod(result);
  t.strictSame(result.spec.containers[0]!.args, ['--provider=aws', '/api']);
  t.strictSame(result.spec.containers[1]!.args, ['--provider=google', '/worker']);
  t.strictSame(result.spec.containers[2], input.spec.containers[2], 'keys without references leave the container alone');
  t.strictSame(status(result), { containers: ['api', 'worker'], initContainers: [] });
  t.strictSame(mutation.audit, { api: ['Secret db[password]'], worker: ['ConfigMap cfg[token]'] });
});

t.test('a Secret and a ConfigMap of the same name are different objects', async (t) => {
  const input = pod({ containers: [container('app', { command: ['/app'], env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'same', key: 'k' } } }] })] });
  const objectFacts = objects([
    [{ kind: 'Secret', name: 'same' }, { k: AWS_REFS[0] }],
    [{ kind: 'ConfigMap', name: 'same' }, { k: 'plain' }],
  ]);
  const outcome = computePodMutation(input, facts(objectFacts), SETTINGS);
  t.equal(outcome.allowed, true);
  t.equal(outcome.allowed && outcome.mutation, undefined, 'the ConfigMap holds no reference');
});

t.test('envFrom secretRef and configMapRef, with and without prefix', async (t) => {
  const input = pod({
    containers: [
      container('a', { command: ['/a'], envFrom: [{ secretRef: { name: 'bundle' }, prefix: 'APP_' }] }),
      container('b', { command: ['/b'], envFrom: [{ configMapRef: { name: 'settings' } }] }),
      container('c', { command: ['/c'], envFrom: [{ configMapRef: { name: 'plain' }, prefix: 'P_' }] }),
    ],
  });
  const objectFacts = objects([
    [{ kind: 'Secret', name: 'bundle' }, { KEY: AWS_REFS[3], OTHER: 'x' }],
    [{ kind: 'ConfigMap', name: 'settings' }, { G: GOOGLE_REFS[1], H: 'y' }],
    [{ kind: 'ConfigMap', name: 'plain' }, { I: 'z' }],
  ]);
  const { result, mutation } = mutateAndApply(input, facts(objectFacts));
  validatePod(result);
  t.strictSame(result.spec.containers[0]!.args, ['--provider=aws', '/a']);
  t.strictSame(result.spec.containers[1]!.args, ['--provider=google', '/b']);
  t.strictSame(result.spec.containers[2], input.spec.containers[2]);
  t.strictSame(mutation.audit, { a: ['Secret bundle[KEY]'], b: ['ConfigMap settings[G]'] });
});

t.test('the prefix of envFrom names the variables in messages', async (t) => {
  const input = pod(
    { containers: [container('app', { command: ['/app'], env: [{ name: 'G', value: GOOGLE_REFS[0] }], envFrom: [{ secretRef: { name: 'bundle' }, prefix: 'APP_' }] })] },
    { 'secrets-init/provider': 'google' },
  );
  const outcome = computePodMutation(input, facts(objects([[{ kind: 'Secret', name: 'bundle' }, { KEY: AWS_REFS[0] }]])), SETTINGS);
  t.equal(outcome.allowed, true);
  t.match(outcome.warnings.join('\n'), /APP_KEY/);
});

t.test('init containers holding references are wrapped; ours is prepended before them', async (t) => {
  const input = pod({
    initContainers: [
      container('setup', { command: ['/setup'], env: [{ name: 'X', value: 'plain' }] }),
      container('migrate', { command: ['/migrate'], args: ['up'], env: [{ name: 'DB', value: AWS_REFS[0] }] }),
    ],
    containers: [container('app', { command: ['/app'] })],
  });
  const { result } = mutateAndApply(input);
  validatePod(result);
  t.strictSame(names(result.spec.initContainers), ['copy-secrets-init', 'setup', 'migrate']);
  t.strictSame(result.spec.initContainers![1], input.spec.initContainers![0], 'setup untouched');
  const migrate = result.spec.initContainers![2]!;
  t.strictSame(migrate.command, [WRAPPER]);
  t.strictSame(migrate.args, ['--provider=aws', '/migrate', 'up']);
  t.strictSame(migrate.volumeMounts, [MOUNT]);
  t.strictSame(result.spec.containers[0], input.spec.containers[0], 'app untouched, no mount');
  t.strictSame(status(result), { containers: [], initContainers: ['migrate'] });
});

t.test('an empty initContainers list gets ours', async (t) => {
  const input = pod({ initContainers: [], containers: [container('app', { command: ['/app'], env: [{ name: 'A', value: AWS_REFS[0] }] })] });
  const { result } = mutateAndApply(input);
  t.strictSame(names(result.spec.initContainers), ['copy-secrets-init']);
});

t.test('a pod without references is left alone', async (t) => {
  const input = pod(
    { containers: [container('app', { command: ['/app'], env: [{ name: 'A', value: 'x arn:aws:secretsmanager:us-east-1:1:secret:s' }, { name: 'B', value: 'ARN:AWS:SECRETSMANAGER:x' }] })] },
    { note: 'x' },
  );
  const outcome = computePodMutation(input, facts(), SETTINGS);
  t.strictSame(outcome, { allowed: true, warnings: [] });
  t.strictSame(imageConfigsNeeded(planPod(input, facts(), SETTINGS)), []);
});

t.test('providers are chosen per container', async (t) => {
  t.test('a google-only container gets --provider=google', async (t) => {
    const input = pod({ containers: [container('app', { command: ['/app'], env: [{ name: 'G', value: GOOGLE_REFS[0] }, { name: 'H', value: GOOGLE_REFS[1] }] })] });
    const { result } = mutateAndApply(input, facts());
    t.strictSame(result.spec.containers[0]!.args, ['--provider=google', '/app']);
  });
  t.test('an aws-only container gets --provider=aws', async (t) => {
    const input = pod({ containers: [container('app', { command: ['/app'], env: [{ name: 'A', value: AWS_REFS[2] }] })] });
    const { result } = mutateAndApply(input, facts());
    t.strictSame(result.spec.containers[0]!.args, ['--provider=aws', '/app']);
  });
  t.test('one pod, two containers, two providers', async (t) => {
    const input = pod({
      containers: [
        container('aws', { command: ['/a'], env: [{ name: 'A', value: AWS_REFS[0] }] }),
        container('gcp', { command: ['/g'], env: [{ name: 'G', value: GOOGLE_REFS[2] }] }),
      ],
    });
    const { result } = mutateAndApply(input);
    t.strictSame(result.spec.containers.map((c) => c.args?.[0]), ['--provider=aws', '--provider=google']);
  });
  t.test('mixed providers in one container are denied, naming the container and why', async (t) => {
    const input = pod({
      containers: [
        container('fine', { command: ['/f'], env: [{ name: 'A', value: AWS_REFS[0] }] }),
        container('mixed', { command: ['/app'], env: [{ name: 'DB_AWS', value: AWS_REFS[0] }, { name: 'DB_GCP', value: GOOGLE_REFS[0] }] }),
      ],
    });
    const reason = denied(computePodMutation(input, facts(), SETTINGS));
    t.match(reason, /"mixed"/);
    t.notMatch(reason, /"fine"/);
    t.match(reason, /AWS/);
    t.match(reason, /Google/);
    t.match(reason, /DB_AWS/);
    t.match(reason, /DB_GCP/);
    t.match(reason, /one provider/);
    t.match(reason, /secrets-init\/provider/, 'tells how to pick one');
    t.strictSame(imageConfigsNeeded(planPod(input, facts(), SETTINGS)), []);
  });
  t.test('the pod annotation overrides a mixed container, warning about what stays unresolved', async (t) => {
    const input = pod(
      {
        containers: [
          container('mixed', { command: ['/app'], env: [{ name: 'DB_AWS', value: AWS_REFS[0] }, { name: 'SSM_AWS', value: AWS_REFS[2] }, { name: 'DB_GCP', value: GOOGLE_REFS[0] }] }),
          container('awsonly', { command: ['/a'], env: [{ name: 'ONLY_AWS', value: AWS_REFS[1] }] }),
        ],
      },
      { 'secrets-init/provider': 'google' },
    );
    const { result, outcome } = mutateAndApply(input);
    t.strictSame(result.spec.containers.map((c) => c.args?.[0]), ['--provider=google', '--provider=google']);
    const warnings = outcome.warnings.join('\n');
    t.match(warnings, /"mixed"/);
    t.match(warnings, /DB_AWS/);
    t.match(warnings, /SSM_AWS/);
    t.notMatch(warnings, /DB_GCP/, 'the resolved variable is not named');
    t.match(warnings, /"awsonly"/);
    t.match(warnings, /ONLY_AWS/);
  });
  t.test('the annotation naming the provider the references already use adds no warning', async (t) => {
    const input = pod({ containers: [container('app', { command: ['/app'], env: [{ name: 'A', value: AWS_REFS[0] }] })] }, { 'secrets-init/provider': 'aws' });
    const { result, outcome } = mutateAndApply(input, facts());
    t.strictSame(result.spec.containers[0]!.args?.[0], '--provider=aws');
    t.strictSame(outcome.warnings, []);
  });
  t.test('an invalid annotation value is denied', async (t) => {
    for (const value of ['azure', 'AWS', '']) {
      const input = pod({ containers: [container('app', { command: ['/app'], env: [{ name: 'A', value: AWS_REFS[0] }] })] }, { 'secrets-init/provider': value });
      const reason = denied(computePodMutation(input, facts(), SETTINGS));
      t.match(reason, /secrets-init\/provider/, JSON.stringify(value));
      t.ok(reason.includes(`"${value}"`), `names the value ${JSON.stringify(value)}`);
    }
  });
});

t.test('opt-out annotation', async (t) => {
  for (const value of ['false', 'False', 'FALSE']) {
    const input = pod(
      { containers: [container('app', { command: ['/app'], env: [{ name: 'A', value: AWS_REFS[0] }, { name: 'S', valueFrom: { secretKeyRef: { name: 'missing', key: 'k' } } }] })] },
      { 'secrets-init/inject': value },
    );
    const outcome = computePodMutation(input, facts(objects([[{ kind: 'Secret', name: 'missing' }, undefined]])), SETTINGS);
    t.strictSame(outcome, { allowed: true, warnings: [] }, value);
    t.strictSame(imageConfigsNeeded(planPod(input, facts(), SETTINGS)), []);
  }
  const optedIn = pod({ containers: [container('app', { command: ['/app'], env: [{ name: 'A', value: AWS_REFS[0] }] })] }, { 'secrets-init/inject': 'true' });
  const { result } = mutateAndApply(optedIn);
  t.strictSame(result.spec.containers[0]!.command, [WRAPPER], '"true" injects');
});

function richPod(): { input: Pod; resolved: ReturnType<typeof facts> } {
  const input = pod(
    {
      initContainers: [
        container('wait', { command: ['/wait'] }),
        container('migrate', { args: ['up'], env: [{ name: 'DB', valueFrom: { secretKeyRef: { name: 'db', key: 'url' } } }] }),
      ],
      containers: [
        container('app', { envFrom: [{ configMapRef: { name: 'cfg' }, prefix: 'CFG_' }], volumeMounts: [{ name: 'data', mountPath: '/data' }] }),
        container('sidecar', { command: ['/proxy'], env: [{ name: 'X', value: 'y' }] }),
      ],
      volumes: [{ name: 'data', emptyDir: {} }],
    },
    { 'example.com/owner': 'team-a' },
  );
  const resolved = facts(
    objects([
      [{ kind: 'Secret', name: 'db' }, { url: AWS_REFS[0] }],
      [{ kind: 'ConfigMap', name: 'cfg' }, { TOKEN: GOOGLE_REFS[0], MODE: 'prod' }],
    ]),
    { migrate: { entrypoint: ['/bin/migrate'], cmd: ['--help'] }, app: { entrypoint: ['/entry'], cmd: ['serve', '--port=80'] } },
  );
  return { input, resolved };
}

t.test('idempotency: the mutated pod needs no further mutation', async (t) => {
  const { input, resolved } = richPod();
  const { result } = mutateAndApply(input, resolved);
  validatePod(result);
  t.strictSame(names(result.spec.initContainers), ['copy-secrets-init', 'wait', 'migrate']);
  t.strictSame(result.spec.initContainers![2]!.args, ['--provider=aws', '/bin/migrate', 'up']);
  t.strictSame(result.spec.containers[0]!.args, ['--provider=google', '/entry', 'serve', '--port=80']);
  t.strictSame(result.spec.containers[0]!.volumeMounts, [{ name: 'data', mountPath: '/data' }, MOUNT]);
  t.strictSame(result.spec.containers[1], input.spec.containers[1]);
  t.strictSame(result.metadata?.annotations?.['example.com/owner'], 'team-a');
  t.strictSame(status(result), { containers: ['app'], initContainers: ['migrate'] });

  // Again, with the facts the webhook would gather (wrapped containers need none).
  const again = computePodMutation(result, facts(), SETTINGS);
  t.strictSame(again, { allowed: true, warnings: [] });
  const againSameFacts = computePodMutation(result, resolved, SETTINGS);
  t.strictSame(againSameFacts, { allowed: true, warnings: [] });
  t.strictSame(imageConfigsNeeded(planPod(result, facts(), SETTINGS)), []);
});

t.test('reinvocation after another webhook added a container with references', async (t) => {
  const { input, resolved } = richPod();
  const first = mutateAndApply(input, resolved).result;
  const withNew = deepClone(first) as Pod;
  withNew.spec.containers.push(container('injected', { command: ['/agent'], env: [{ name: 'KEY', value: GOOGLE_REFS[1] }] }));
  const { result, ops } = mutateAndApply(withNew, resolved);
  validatePod(result);
  t.notOk(ops.some((op) => op.path.startsWith('/spec/initContainers')), 'no init container operation');
  t.notOk(ops.some((op) => op.path.startsWith('/spec/volumes')), 'no volume operation');
  t.strictSame(names(result.spec.initContainers), ['copy-secrets-init', 'wait', 'migrate']);
  t.equal(result.spec.volumes?.filter((v) => v.name === 'secrets-init-bin').length, 1);
  t.strictSame(result.spec.containers.slice(0, 2), first.spec.containers, 'wrapped containers are not wrapped again');
  const added = result.spec.containers[2]!;
  t.strictSame(added.command, [WRAPPER]);
  t.strictSame(added.args, ['--provider=google', '/agent']);
  t.strictSame(added.volumeMounts, [MOUNT]);
  t.strictSame(status(result), { containers: ['app', 'injected'], initContainers: ['migrate'] });
  t.strictSame(computePodMutation(result, resolved, SETTINGS), { allowed: true, warnings: [] });
});

t.test('a wrapped container that lost its mount gets it back', async (t) => {
  const { input, resolved } = richPod();
  const first = mutateAndApply(input, resolved).result;
  const damaged = deepClone(first) as Pod;
  damaged.spec.containers[0]!.volumeMounts = [{ name: 'data', mountPath: '/data' }];
  const { result, ops } = mutateAndApply(damaged, resolved);
  t.equal(ops.length, 1);
  t.strictSame(result, first);
});

t.test('a pod carrying wrapped containers but no init container or volume gets them', async (t) => {
  const input = pod({ containers: [container('app', { command: [WRAPPER], args: ['--provider=aws', '/app'] })] });
  const { result } = mutateAndApply(input);
  validatePod(result);
  t.strictSame(result.spec.containers[0]!.command, [WRAPPER]);
  t.strictSame(result.spec.containers[0]!.args, ['--provider=aws', '/app'], 'not wrapped twice');
  t.strictSame(result.spec.containers[0]!.volumeMounts, [MOUNT]);
  t.strictSame(names(result.spec.initContainers), ['copy-secrets-init']);
  t.strictSame(result.spec.volumes, [{ name: 'secrets-init-bin', emptyDir: { medium: 'Memory' } }]);
});

t.test('our init container mounting our volume at the path written otherwise is still ours, not a name clash', async (t) => {
  const input = pod({ containers: [container('app', { command: ['/app'], env: [{ name: 'A', value: AWS_REFS[0] }] })] });
  const first = mutateAndApply(input).result;
  const rewritten = deepClone(first) as Pod;
  rewritten.spec.initContainers![0]!.volumeMounts = [{ name: 'secrets-init-bin', mountPath: '/helper/bin/' }];
  t.strictSame(computePodMutation(rewritten, facts(), SETTINGS), { allowed: true, warnings: [] }, 'nothing to add, nothing denied');
});

t.test('our init container standing after a wrapped init container is moved to the front', async (t) => {
  const { input, resolved } = richPod();
  const first = mutateAndApply(input, resolved).result;
  // Another webhook reordered: [wait, migrate(wrapped), copy-secrets-init].
  const reordered = deepClone(first) as Pod;
  const [ours, wait, migrate] = reordered.spec.initContainers!;
  reordered.spec.initContainers = [wait!, migrate!, ours!];
  const { result, ops } = mutateAndApply(reordered, resolved);
  t.ok(ops.some((op: Operation) => op.op === 'move' && op.from === '/spec/initContainers/2' && op.path === '/spec/initContainers/0'), 'a move operation');
  t.strictSame(names(result.spec.initContainers), ['copy-secrets-init', 'wait', 'migrate']);
  t.strictSame(result.spec.initContainers, first.spec.initContainers);
  t.strictSame(computePodMutation(result, resolved, SETTINGS), { allowed: true, warnings: [] });
});

t.test('our init container after only unwrapped init containers stays where it is', async (t) => {
  const { input, resolved } = richPod();
  const first = mutateAndApply(input, resolved).result;
  const reordered = deepClone(first) as Pod;
  const [ours, wait, migrate] = reordered.spec.initContainers!;
  reordered.spec.initContainers = [wait!, ours!, migrate!];
  t.strictSame(computePodMutation(reordered, resolved, SETTINGS), { allowed: true, warnings: [] });
});

t.test('an init container of our name that holds a reference itself is wrapped where it stands, and only once', async (t) => {
  const input = pod({
    initContainers: [container('wait', { command: ['/wait'] }), container('copy-secrets-init', { command: ['/copy'], env: [{ name: 'A', value: AWS_REFS[0] }], volumeMounts: [MOUNT] })],
    containers: [container('app', { command: ['/app'] })],
  });
  const { result, ops } = mutateAndApply(input);
  t.notOk(ops.some((op: Operation) => op.op === 'move'), 'not moved: no wrapped init container stands before it');
  t.strictSame(names(result.spec.initContainers), ['wait', 'copy-secrets-init']);
  t.strictSame(result.spec.initContainers![1]!.command, [WRAPPER]);
  const front = deepClone(result) as Pod;
  front.spec.initContainers!.reverse();
  t.strictSame(computePodMutation(front, facts(), SETTINGS), { allowed: true, warnings: [] }, 'at the front, nothing more to do');
});

t.test('a new init container with references before ours: wrapped and ours moved, in one patch', async (t) => {
  const input = pod({
    initContainers: [
      container('fresh', { command: ['/fresh'], env: [{ name: 'A', value: AWS_REFS[0] }] }),
      { ...buildInitContainer(SETTINGS) },
      container('old', { command: [WRAPPER], args: ['--provider=aws', '/old'], volumeMounts: [MOUNT] }),
    ],
    containers: [container('app', { command: ['/app'] })],
    volumes: [{ name: 'secrets-init-bin', emptyDir: { medium: 'Memory' } }],
  });
  const { result } = mutateAndApply(input);
  validatePod(result);
  t.strictSame(names(result.spec.initContainers), ['copy-secrets-init', 'fresh', 'old']);
  const fresh = result.spec.initContainers![1]!;
  t.strictSame(fresh.command, [WRAPPER]);
  t.strictSame(fresh.args, ['--provider=aws', '/fresh']);
  t.strictSame(fresh.volumeMounts, [MOUNT]);
  t.strictSame(result.spec.initContainers![2], input.spec.initContainers![2]);
  t.strictSame(status(result), { containers: [], initContainers: ['fresh', 'old'] });
  t.strictSame(computePodMutation(result, facts(), SETTINGS), { allowed: true, warnings: [] });
});

t.test('referenced objects that do not exist', async (t) => {
  const missing = objects([
    [{ kind: 'Secret', name: 'gone' }, undefined],
    [{ kind: 'ConfigMap', name: 'gone-cm' }, undefined],
  ]);
  t.test('a required Secret (secretKeyRef) is denied, naming it', async (t) => {
    const input = pod({ containers: [container('app', { command: ['/app'], env: [{ name: 'A', valueFrom: { secretKeyRef: { name: 'gone', key: 'k' } } }] })] });
    const reason = denied(computePodMutation(input, facts(missing), SETTINGS));
    t.ok(reason.includes(`Secret ${NAMESPACE}/gone`), reason);
    t.match(reason, /"app"/);
    t.strictSame(imageConfigsNeeded(planPod(input, facts(missing), SETTINGS)), []);
  });
  t.test('a required ConfigMap (envFrom) is denied, naming it', async (t) => {
    const input = pod({ containers: [container('app', { command: ['/app'], envFrom: [{ configMapRef: { name: 'gone-cm' } }] })] });
    const reason = denied(computePodMutation(input, facts(missing), SETTINGS));
    t.ok(reason.includes(`ConfigMap ${NAMESPACE}/gone-cm`), reason);
  });
  t.test('a required Secret is denied even when the container has no other reference', async (t) => {
    const input = pod({ containers: [container('app', { command: ['/app'], envFrom: [{ secretRef: { name: 'gone' } }] }), container('other', { command: ['/o'], env: [{ name: 'A', value: AWS_REFS[0] }] })] });
    t.ok(denied(computePodMutation(input, facts(missing), SETTINGS)).includes(`Secret ${NAMESPACE}/gone`));
  });
  t.test('optional ones are allowed with a warning', async (t) => {
    const input = pod({
      containers: [
        container('app', {
          command: ['/app'],
          env: [{ name: 'A', valueFrom: { secretKeyRef: { name: 'gone', key: 'k', optional: true } } }, { name: 'D', value: AWS_REFS[0] }],
          envFrom: [{ configMapRef: { name: 'gone-cm', optional: true } }],
        }),
      ],
    });
    const { outcome, result } = mutateAndApply(input, facts(missing));
    t.equal(outcome.warnings.length, 2);
    t.ok(outcome.warnings.some((w) => w.includes(`Secret ${NAMESPACE}/gone`)));
    t.ok(outcome.warnings.some((w) => w.includes(`ConfigMap ${NAMESPACE}/gone-cm`)));
    t.strictSame(result.spec.containers[0]!.args, ['--provider=aws', '/app']);
  });
  t.test('optional missing objects alone: allowed, no mutation, warning', async (t) => {
    const input = pod({ containers: [container('app', { command: ['/app'], env: [{ name: 'A', valueFrom: { configMapKeyRef: { name: 'gone-cm', key: 'k', optional: true } } }] })] });
    const outcome = computePodMutation(input, facts(missing), SETTINGS);
    t.equal(outcome.allowed, true);
    t.equal(outcome.allowed && outcome.mutation, undefined);
    t.equal(outcome.warnings.length, 1);
  });
  t.test('an object that was not looked up is denied, not silently skipped', async (t) => {
    const input = pod({ containers: [container('app', { command: ['/app'], env: [{ name: 'A', valueFrom: { secretKeyRef: { name: 'unknown', key: 'k', optional: true } } }] })] });
    const reason = denied(computePodMutation(input, facts(missing), SETTINGS));
    t.ok(reason.includes(`Secret ${NAMESPACE}/unknown`), reason);
  });
});

t.test('missing keys', async (t) => {
  const present = objects([[{ kind: 'Secret', name: 'db' }, { password: AWS_REFS[0] }], [{ kind: 'ConfigMap', name: 'cfg' }, { a: 'b' }]]);
  t.test('a required key missing is denied, naming key, object and variable', async (t) => {
    const input = pod({ containers: [container('app', { command: ['/app'], env: [{ name: 'PW', valueFrom: { secretKeyRef: { name: 'db', key: 'passwd' } } }] })] });
    const reason = denied(computePodMutation(input, facts(present), SETTINGS));
    t.match(reason, /passwd/);
    t.ok(reason.includes(`Secret ${NAMESPACE}/db`), reason);
    t.match(reason, /PW/);
    t.match(reason, /"app"/);
  });
  t.test('an optional key missing gives a warning', async (t) => {
    const input = pod({
      containers: [
        container('app', {
          command: ['/app'],
          env: [{ name: 'PW', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } }, { name: 'OPT', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'nope', optional: true } } }],
        }),
      ],
    });
    const { outcome, result } = mutateAndApply(input, facts(present));
    t.equal(outcome.warnings.length, 1);
    t.match(outcome.warnings[0]!, /nope/);
    t.match(outcome.warnings[0]!, /OPT/);
    t.strictSame(result.spec.containers[0]!.args, ['--provider=aws', '/app']);
  });
});

t.test('image configs', async (t) => {
  const input = pod({
    containers: [
      container('args-only', { args: ['-v', '--x'], env: [{ name: 'A', value: AWS_REFS[0] }] }),
      container('neither', { command: [], env: [{ name: 'G', value: GOOGLE_REFS[0] }] }),
      container('no-refs', { env: [{ name: 'X', value: 'plain' }] }),
      container('with-command', { command: ['/cmd'], env: [{ name: 'A', value: AWS_REFS[0] }] }),
    ],
  });
  t.test('only containers to wrap that lack a command need one', async (t) => {
    t.strictSame(imageConfigsNeeded(planPod(input, facts(), SETTINGS)), [
      { container: 'args-only', image: 'registry.example.com/args-only:1.0' },
      { container: 'neither', image: 'registry.example.com/neither:1.0' },
    ]);
  });
  t.test('without the config: denied, telling to set command', async (t) => {
    const reason = denied(computePodMutation(input, facts(new Map(), { neither: { entrypoint: ['/e'], cmd: [] } }), SETTINGS));
    t.match(reason, /"args-only"/);
    t.notMatch(reason, /"neither"/);
    t.match(reason, /registry\.example\.com\/args-only:1\.0/);
    t.match(reason, /set "command"/);
  });
  t.test('with the configs: args follow the command table', async (t) => {
    const configs = {
      'args-only': { entrypoint: ['/entry', '--flag'], cmd: ['ignored'] },
      neither: { entrypoint: ['/e'], cmd: ['serve', '--all'] },
    };
    const { result } = mutateAndApply(input, facts(new Map(), configs));
    validatePod(result);
    const [argsOnly, neither, noRefs, withCommand] = result.spec.containers;
    t.strictSame(argsOnly!.command, [WRAPPER]);
    t.strictSame(argsOnly!.args, ['--provider=aws', '/entry', '--flag', '-v', '--x']);
    t.strictSame(neither!.command, [WRAPPER]);
    t.strictSame(neither!.args, ['--provider=google', '/e', 'serve', '--all']);
    t.strictSame(noRefs, input.spec.containers[2]);
    t.strictSame(withCommand!.args, ['--provider=aws', '/cmd']);
  });
  t.test('CMD alone is enough', async (t) => {
    const single = pod({ containers: [container('c', { env: [{ name: 'A', value: AWS_REFS[0] }] })] });
    const { result } = mutateAndApply(single, facts(new Map(), { c: { entrypoint: [], cmd: ['/bin/app', 'run'] } }));
    t.strictSame(result.spec.containers[0]!.args, ['--provider=aws', '/bin/app', 'run']);
  });
  t.test('an image with neither ENTRYPOINT nor CMD is denied', async (t) => {
    const single = pod({ containers: [container('c', { env: [{ name: 'A', value: AWS_REFS[0] }] })] });
    const reason = denied(computePodMutation(single, facts(new Map(), { c: { entrypoint: [], cmd: [] } }), SETTINGS));
    t.match(reason, /"c"/);
    t.match(reason, /neither ENTRYPOINT nor CMD/);
    t.match(reason, /set "command"/);
  });
});

t.test('volume and mount conflicts', async (t) => {
  const refEnv = [{ name: 'A', value: AWS_REFS[0] }];
  t.test('a non-emptyDir volume with our name is denied', async (t) => {
    const input = pod({ containers: [container('app', { command: ['/app'], env: refEnv })], volumes: [{ name: 'secrets-init-bin', configMap: { name: 'x' } }] });
    const reason = denied(computePodMutation(input, facts(), SETTINGS));
    t.match(reason, /secrets-init-bin/);
    t.match(reason, /emptyDir/);
  });
  t.test('an emptyDir with our name is reused', async (t) => {
    const input = pod({ containers: [container('app', { command: ['/app'], env: refEnv })], volumes: [{ name: 'secrets-init-bin', emptyDir: {} }, { name: 'other', emptyDir: {} }] });
    const { result, ops } = mutateAndApply(input);
    t.notOk(ops.some((op) => op.path.startsWith('/spec/volumes')));
    t.strictSame(result.spec.volumes, input.spec.volumes);
    t.strictSame(result.spec.containers[0]!.volumeMounts, [MOUNT]);
  });
  t.test('a container with references mounting something else at the path is denied', async (t) => {
    const input = pod({
      containers: [container('app', { command: ['/app'], env: refEnv, volumeMounts: [{ name: 'tools', mountPath: '/helper/bin' }] })],
      volumes: [{ name: 'tools', emptyDir: {} }],
    });
    const reason = denied(computePodMutation(input, facts(), SETTINGS));
    t.match(reason, /"app"/);
    t.match(reason, /"tools"/);
    t.match(reason, /\/helper\/bin/);
  });
  t.test('the path written otherwise is the same directory to the container runtime: denied too', async (t) => {
    for (const mountPath of ['/helper/bin/', '/helper//bin', '/helper/./bin/', '/helper/./bin', '/helper/x/../bin']) {
      const input = pod({
        containers: [container('app', { command: ['/app'], env: refEnv, volumeMounts: [{ name: 'tools', mountPath }] })],
        volumes: [{ name: 'tools', emptyDir: {} }],
      });
      t.match(denied(computePodMutation(input, facts(), SETTINGS)), /container "app" already mounts volume "tools" at \/helper\/bin/, mountPath);
    }
    const ours = pod({
      containers: [container('app', { command: ['/app'], env: refEnv, volumeMounts: [{ name: 'secrets-init-bin', mountPath: '/helper/bin/' }] })],
      volumes: [{ name: 'secrets-init-bin', emptyDir: { medium: 'Memory' } }],
    });
    const { result } = mutateAndApply(ours);
    t.strictSame(result.spec.containers[0]!.volumeMounts, [{ name: 'secrets-init-bin', mountPath: '/helper/bin/' }], 'our volume there already: no second mount of it');
  });
  t.test('our volume mounted there with a subPath hides the binary: denied, and nothing added', async (t) => {
    for (const field of ['subPath', 'subPathExpr']) {
      const input = pod({
        containers: [container('app', { command: ['/app'], env: refEnv, volumeMounts: [{ name: 'secrets-init-bin', mountPath: '/helper/bin', [field]: 'bin' }] })],
        volumes: [{ name: 'secrets-init-bin', emptyDir: { medium: 'Memory' } }],
      });
      t.match(denied(computePodMutation(input, facts(), SETTINGS)), /container "app" mounts only "bin" of volume "secrets-init-bin" at \/helper\/bin/, field);
    }
    const empty = pod({
      containers: [container('app', { command: ['/app'], env: refEnv, volumeMounts: [{ name: 'secrets-init-bin', mountPath: '/helper/bin', subPath: '' }] })],
      volumes: [{ name: 'secrets-init-bin', emptyDir: { medium: 'Memory' } }],
    });
    t.equal(computePodMutation(empty, facts(), SETTINGS).allowed, true, 'an empty subPath is the whole volume');
  });
  t.test('a relative mount path is the same directory too: the kubelet puts "/" before it', async (t) => {
    for (const mountPath of ['helper/bin', './helper/bin', 'helper/bin/', 'x/../helper/bin']) {
      const input = pod({
        containers: [container('app', { command: ['/app'], env: refEnv, volumeMounts: [{ name: 'tools', mountPath }] })],
        volumes: [{ name: 'tools', emptyDir: {} }],
      });
      t.match(denied(computePodMutation(input, facts(), SETTINGS)), /container "app" already mounts volume "tools" at \/helper\/bin/, mountPath);
    }
    for (const mountPath of ['helper/binaries', 'helper', '/helper/bin/..', 'bin']) {
      const input = pod({
        containers: [container('app', { command: ['/app'], env: refEnv, volumeMounts: [{ name: 'tools', mountPath }] })],
        volumes: [{ name: 'tools', emptyDir: {} }],
      });
      t.ok(mutateAndApply(input).result.spec.initContainers?.length, `${mountPath}: another directory, injected`);
    }
  });
  t.test('a container without references may use the path', async (t) => {
    const input = pod({
      containers: [
        container('app', { command: ['/app'], env: refEnv }),
        container('tools', { command: ['/t'], volumeMounts: [{ name: 'tools', mountPath: '/helper/bin' }] }),
      ],
      volumes: [{ name: 'tools', emptyDir: {} }],
    });
    const { result } = mutateAndApply(input);
    t.strictSame(result.spec.containers[1], input.spec.containers[1]);
  });
  t.test('a container already mounting our volume at the path keeps a single mount', async (t) => {
    const input = pod({
      containers: [container('app', { command: ['/app'], env: refEnv, volumeMounts: [{ name: 'secrets-init-bin', mountPath: '/helper/bin', readOnly: true }] })],
    });
    const { result } = mutateAndApply(input);
    validatePod(result);
    t.strictSame(result.spec.containers[0]!.volumeMounts, [{ name: 'secrets-init-bin', mountPath: '/helper/bin', readOnly: true }]);
    t.strictSame(names(result.spec.volumes), ['secrets-init-bin']);
  });
});

t.test('audit lists origins and never a Secret value', async (t) => {
  const SECRET_VALUE = 'hunter2-do-not-leak-7f3a';
  const SECRET_REF = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:from-secret-only';
  const input = pod({
    containers: [
      container('app', {
        command: ['/app'],
        env: [
          { name: 'DIRECT', value: AWS_REFS[2] },
          { name: 'FROM_KEY', valueFrom: { secretKeyRef: { name: 'creds', key: 'ref' } } },
          { name: 'USER', valueFrom: { secretKeyRef: { name: 'creds', key: 'user' } } },
        ],
        envFrom: [{ secretRef: { name: 'creds' }, prefix: 'ALL_' }],
      }),
    ],
  });
  const resolved = facts(objects([[{ kind: 'Secret', name: 'creds' }, { ref: SECRET_REF, user: SECRET_VALUE }]]));
  const outcome = computePodMutation(input, resolved, SETTINGS);
  if (!outcome.allowed || outcome.mutation === undefined) throw new Error('expected a mutation');
  t.same(new Set(outcome.mutation.audit['app']), new Set([AWS_REFS[2], 'Secret creds[ref]']));
  t.equal(outcome.mutation.audit['app']!.length, 2, 'each origin once, though FROM_KEY and ALL_ref both come from creds[ref]');
  t.ok(outcome.mutation.audit['app']!.includes(AWS_REFS[2]), 'a reference written in the pod spec is its own origin');
  const everything = JSON.stringify({ outcome, ops: toJsonPatch(input, outcome.mutation) });
  t.notOk(everything.includes(SECRET_VALUE), 'a Secret value appears nowhere');
  t.notOk(everything.includes(SECRET_REF), 'not even a reference stored in a Secret');
  t.notOk(everything.includes('from-secret-only'));

  const deniedOutcome = computePodMutation(
    pod({ containers: [container('app', { command: ['/app'], env: [{ name: 'G', value: GOOGLE_REFS[0] }], envFrom: [{ secretRef: { name: 'creds' } }] })] }),
    resolved,
    SETTINGS,
  );
  const deniedJson = JSON.stringify(deniedOutcome);
  t.equal(deniedOutcome.allowed, false, 'mixed providers');
  t.notOk(deniedJson.includes(SECRET_VALUE));
  t.notOk(deniedJson.includes(SECRET_REF));
});

t.test('patches create missing structure', async (t) => {
  const refContainer = () => container('app', { command: ['/app'], env: [{ name: 'A', value: AWS_REFS[0] }] });
  t.test('no annotations, volumes, initContainers or volumeMounts', async (t) => {
    const input = pod({ containers: [refContainer()] });
    t.equal(input.metadata?.annotations, undefined);
    const { result, ops } = mutateAndApply(input);
    validatePod(result);
    t.ok(ops.some((op) => op.op === 'add' && op.path === '/spec/initContainers'));
    t.ok(ops.some((op) => op.op === 'add' && op.path === '/spec/volumes'));
    t.ok(ops.some((op) => op.op === 'add' && op.path === '/spec/containers/0/volumeMounts'));
    t.ok(ops.some((op) => op.op === 'add' && op.path === '/metadata/annotations'));
    t.strictSame(Object.keys(result.metadata!.annotations!), [STATUS]);
  });
  t.test('no metadata at all', async (t) => {
    const input: Pod = { spec: { containers: [refContainer()] } };
    const { result } = mutateAndApply(input);
    t.strictSame(status(result), { containers: ['app'], initContainers: [] });
  });
  t.test('existing annotations: the key is escaped and the others kept', async (t) => {
    const input = pod({ containers: [refContainer()] }, { 'a/b': 'c', 'x~y': 'z' });
    const { result, ops } = mutateAndApply(input);
    t.ok(ops.some((op) => op.op === 'add' && op.path === '/metadata/annotations/secrets-init~1status'), JSON.stringify(ops));
    t.strictSame(result.metadata!.annotations!['a/b'], 'c');
    t.strictSame(result.metadata!.annotations!['x~y'], 'z');
    t.strictSame(status(result), { containers: ['app'], initContainers: [] });
  });
  t.test('an outdated status annotation is replaced', async (t) => {
    const input = pod({ containers: [refContainer()] }, { [STATUS]: '{"containers":["old"],"initContainers":[]}' });
    const { result } = mutateAndApply(input);
    t.strictSame(status(result), { containers: ['app'], initContainers: [] });
  });
  t.test('existing lists are appended to, not replaced', async (t) => {
    const input = pod({
      initContainers: [container('first', { command: ['/f'] })],
      containers: [container('app', { command: ['/app'], env: [{ name: 'A', value: AWS_REFS[0] }], volumeMounts: [{ name: 'data', mountPath: '/data' }] })],
      volumes: [{ name: 'data', emptyDir: {} }],
    });
    const { result, ops } = mutateAndApply(input);
    t.ok(ops.some((op) => op.path === '/spec/volumes/-'));
    t.ok(ops.some((op) => op.path === '/spec/containers/0/volumeMounts/-'));
    t.ok(ops.some((op) => op.path === '/spec/initContainers/0'));
    t.strictSame(names(result.spec.initContainers), ['copy-secrets-init', 'first']);
    t.strictSame(names(result.spec.volumes), ['data', 'secrets-init-bin']);
    t.strictSame(result.spec.containers[0]!.volumeMounts, [{ name: 'data', mountPath: '/data' }, MOUNT]);
  });
});

t.test('fields the webhook does not know are kept', async (t) => {
  const input = pod({
    containers: [
      container('app', {
        command: ['/app'],
        env: [{ name: 'A', value: AWS_REFS[0] }],
        ports: [{ containerPort: 80 }],
        resources: { limits: { memory: '1Gi' } },
        securityContext: { runAsUser: 10 },
      }),
    ],
    serviceAccountName: 'sa',
    nodeSelector: { disk: 'ssd' },
  });
  const { result } = mutateAndApply(input);
  const app = findContainer(result, 'app')!;
  t.strictSame(app.ports, [{ containerPort: 80 }]);
  t.strictSame(app.resources, { limits: { memory: '1Gi' } });
  t.strictSame(app.securityContext, { runAsUser: 10 });
  t.equal(result.spec.serviceAccountName, 'sa');
  t.strictSame(result.spec.nodeSelector, { disk: 'ssd' });
});
