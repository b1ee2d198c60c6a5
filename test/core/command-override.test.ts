import t from 'tap';
import { computePodMutation, imageConfigsNeeded, planPod } from '../../src/core/pod-mutation.js';
import { commandOverride } from '../../src/core/command-override.js';
import { AWS_REFS, SETTINGS, container, facts, findContainer, mutateAndApply, pod } from '../helpers/pods.js';

const env = [{ name: 'K', value: AWS_REFS[0]! }];

t.test('the annotation parses as ENTRYPOINT alone, or entrypoint and cmd', async (t) => {
  const annotated = (value: string) => pod({ containers: [container('app')] }, { 'secrets-init/command.app': value });
  t.same(commandOverride(annotated('["/bin/server","-v"]'), 'app'), { config: { entrypoint: ['/bin/server', '-v'], cmd: [] } });
  t.same(commandOverride(annotated('{"entrypoint":["/e"],"cmd":["run"]}'), 'app'), { config: { entrypoint: ['/e'], cmd: ['run'] } });
  t.same(commandOverride(annotated('{"cmd":["run"]}'), 'app'), { config: { entrypoint: [], cmd: ['run'] } });
  t.equal(commandOverride(annotated('["/x"]'), 'other'), undefined, 'per container');
  for (const [value, problem] of [
    ['/bin/server', /is not JSON/],
    ['[1,2]', /must be a JSON array of strings or/],
    ['"x"', /must be a JSON array of strings or/],
    ['{"entrypoint":"/e"}', /"entrypoint" must be an array of strings/],
    ['{"cmd":[1]}', /"cmd" must be an array of strings/],
    ['{"command":["/e"]}', /unknown field\(s\) command/],
  ] as const) {
    const result = commandOverride(annotated(value), 'app');
    t.ok(result && 'problem' in result && problem.test(result.problem), `${value} → ${JSON.stringify(result)}`);
  }
});

t.test('an annotated container needs no image config and follows the command table', async (t) => {
  const input = pod(
    {
      containers: [
        container('app', { image: 'private.example/app:1', env }),
        container('withargs', { image: 'private.example/app:1', args: ['--port=80'], env }),
        container('lookedup', { image: 'public.example/app:1', env }),
      ],
    },
    { 'secrets-init/command.app': '{"entrypoint":["/e"],"cmd":["run"]}', 'secrets-init/command.withargs': '["/e"]' },
  );
  t.same(imageConfigsNeeded(planPod(input, facts(), SETTINGS)), [{ container: 'lookedup', image: 'public.example/app:1' }]);
  const { result } = mutateAndApply(input, facts(undefined, { lookedup: { entrypoint: ['/l'], cmd: [] } }));
  t.strictSame(findContainer(result, 'app')?.args, ['--provider=aws', '/e', 'run']);
  t.strictSame(findContainer(result, 'withargs')?.args, ['--provider=aws', '/e', '--port=80']);
  t.strictSame(findContainer(result, 'lookedup')?.args, ['--provider=aws', '/l']);
});

t.test('a container with command ignores the annotation; a malformed one denies', async (t) => {
  const ignored = pod({ containers: [container('app', { command: ['/own'], env })] }, { 'secrets-init/command.app': 'not json' });
  const { result } = mutateAndApply(ignored);
  t.strictSame(findContainer(result, 'app')?.args, ['--provider=aws', '/own']);
  const broken = pod({ containers: [container('app', { env })] }, { 'secrets-init/command.app': 'not json' });
  const outcome = computePodMutation(broken, facts(), SETTINGS);
  t.equal(outcome.allowed, false);
  t.match(!outcome.allowed && outcome.reason, 'annotation secrets-init/command.app is not JSON');
});
