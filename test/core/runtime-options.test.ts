import t from 'tap';
import { googleProjectProblem, podRuntimeOptions, runtimeArgs, unsupportedOptions } from '../../src/core/runtime-options.js';
import { imageSupports, introducedIn } from '../../src/core/runtime-release.js';

const CURRENT = 'ghcr.io/doitintl/secrets-init:0.5.3';
const HEX = 'a'.repeat(64);

t.test('imageSupports: the tag\'s release decides; no version means current', async (t) => {
  const table: Array<[string, string, boolean]> = [
    ['ghcr.io/doitintl/secrets-init:0.4.4', 'log-format', false],
    ['ghcr.io/doitintl/secrets-init:0.4.5', 'log-format', true],
    ['ghcr.io/doitintl/secrets-init:v0.4.7', 'exit-early', false],
    ['ghcr.io/doitintl/secrets-init:0.4.8', 'exit-early', true],
    ['ghcr.io/doitintl/secrets-init:0.4.8', 'google-project', true],
    ['registry:5000/secrets-init:0.4', 'google-project', false],
    ['ghcr.io/doitintl/secrets-init:0.5.0', 'interactive', false],
    ['ghcr.io/doitintl/secrets-init:0.5.1-alpine', 'interactive', true],
    ['ghcr.io/doitintl/secrets-init:1.0', 'interactive', true],
    ['ghcr.io/doitintl/secrets-init:latest', 'interactive', true],
    ['ghcr.io/doitintl/secrets-init', 'interactive', true],
    [`ghcr.io/doitintl/secrets-init@sha256:${HEX}`, 'interactive', true],
    [`ghcr.io/doitintl/secrets-init:0.5.0@sha256:${HEX}`, 'interactive', false],
    ['registry:5000/secrets-init', 'exit-early', true],
    ['ghcr.io/doitintl/secrets-init:0.3.9', 'copy', false],
  ];
  for (const [image, feature, expected] of table) t.equal(imageSupports(image, feature as Parameters<typeof imageSupports>[1]), expected, `${image} ${feature}`);
  t.equal(introducedIn('interactive'), '0.5.1');
  t.equal(introducedIn('exit-early'), '0.4.8');
});

t.test('runtimeArgs: --provider first, then the options that apply, in the documented order', async (t) => {
  t.strictSame(runtimeArgs('aws', { exitEarly: false }, false), ['--provider=aws'], 'no option: the reference\'s args');
  const all = { exitEarly: true, googleProject: 'my-project', logFormat: 'json' as const };
  t.strictSame(runtimeArgs('google', all, true), ['--provider=google', '--exit-early', '--google-project=my-project', '--log-format=json', '--interactive']);
  t.strictSame(runtimeArgs('aws', all, true), ['--provider=aws', '--exit-early', '--log-format=json', '--interactive'], '--google-project only for google');
  t.strictSame(runtimeArgs('google', { exitEarly: false, logFormat: 'text' }, false), ['--provider=google', '--log-format=text']);
});

t.test('podRuntimeOptions: annotations override the server\'s options', async (t) => {
  const server = { exitEarly: true, googleProject: 'server-project', logFormat: 'text' as const };
  t.strictSame(podRuntimeOptions({}, server, CURRENT), { options: server, problems: [] }, 'no annotation: the server\'s');
  t.strictSame(
    podRuntimeOptions({ 'secrets-init/exit-early': 'false', 'secrets-init/google-project': 'pod-project', 'secrets-init/log-format': 'json' }, server, CURRENT),
    { options: { exitEarly: false, googleProject: 'pod-project', logFormat: 'json' }, problems: [] },
  );
  t.strictSame(podRuntimeOptions({ 'secrets-init/exit-early': 'TRUE' }, { exitEarly: false }, CURRENT).options, { exitEarly: true }, 'case does not matter');
});

t.test('podRuntimeOptions: malformed values are problems that name the annotation', async (t) => {
  const { problems } = podRuntimeOptions(
    { 'secrets-init/exit-early': 'yes', 'secrets-init/google-project': 'My_Project', 'secrets-init/log-format': 'xml' },
    { exitEarly: false },
    CURRENT,
  );
  t.equal(problems.length, 3);
  t.match(problems[0], /secrets-init\/exit-early must be "true" or "false", not "yes"/);
  t.match(problems[1], /secrets-init\/google-project must be a Google Cloud project ID.*not "My_Project"/);
  t.match(problems[2], /secrets-init\/log-format must be "text" or "json", not "xml"/);
});

t.test('podRuntimeOptions: an option the injected image predates is a problem; turning one off never is', async (t) => {
  const old = 'ghcr.io/doitintl/secrets-init:0.4.4';
  const { problems } = podRuntimeOptions({ 'secrets-init/exit-early': 'true', 'secrets-init/google-project': 'my-project', 'secrets-init/log-format': 'json' }, { exitEarly: false }, old);
  t.equal(problems.length, 3);
  t.match(problems[0], /^annotation secrets-init\/exit-early: secrets-init --exit-early needs release 0\.4\.8 or later, and the injected image ghcr\.io\/doitintl\/secrets-init:0\.4\.4 is older/);
  t.match(problems[1], /^annotation secrets-init\/google-project: .*0\.4\.8/);
  t.match(problems[2], /^annotation secrets-init\/log-format: .*0\.4\.5/);
  t.strictSame(podRuntimeOptions({ 'secrets-init/exit-early': 'false' }, { exitEarly: false }, old).problems, []);
  t.strictSame(podRuntimeOptions({ 'secrets-init/log-format': 'json' }, { exitEarly: false }, 'secrets-init:0.4.5').problems, []);
});

t.test('unsupportedOptions: the server\'s options the image cannot run', async (t) => {
  t.strictSame(unsupportedOptions('secrets-init:0.4.0', { exitEarly: true, googleProject: 'p-roject', logFormat: 'json' }), ['exit-early', 'google-project', 'log-format']);
  t.strictSame(unsupportedOptions('secrets-init:0.4.5', { exitEarly: false, logFormat: 'json' }), []);
  t.strictSame(unsupportedOptions('secrets-init:0.4.0', { exitEarly: false }), []);
});

t.test('googleProjectProblem: project IDs, domain-scoped IDs and numbers', async (t) => {
  for (const good of ['my-project', 'abcdef', 'a12345678901234567890123456789'.slice(0, 30), 'example.com:my-project', '123456789012']) t.equal(googleProjectProblem(good), undefined, good);
  for (const bad of ['', 'short', 'My-Project', 'my_project', 'my-project-', '1project', 'a'.repeat(31), 'my project', '$(P)', 'projects/x']) t.type(googleProjectProblem(bad), 'string', bad);
});
