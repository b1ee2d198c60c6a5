import t from 'tap';
import { ARGO_EMISSARY, parseSupervisorCommand, supervisorOf } from '../../src/core/supervisor.js';
import { isWrapped, wrapCommandLine } from '../../src/core/wrapping.js';

const WRAP = { volumePath: '/helper/bin', supervisors: [ARGO_EMISSARY, ['tini', '--'], ['tini', '-g', '--']] };
const WRAPPER = '/helper/bin/secrets-init';

t.test('parseSupervisorCommand: words ending with --', async (t) => {
  t.strictSame(parseSupervisorCommand('/sbin/tini --'), { command: ['/sbin/tini', '--'] });
  t.strictSame(parseSupervisorCommand('  dumb-init   --single-child  -- '), { command: ['dumb-init', '--single-child', '--'] });
  for (const bad of ['', '--', 'tini', 'tini -- x', 'run $(X) --']) t.ok('problem' in parseSupervisorCommand(bad), JSON.stringify(bad));
});

t.test('supervisorOf: the longest supervisor the line starts with, word for word', async (t) => {
  t.strictSame(supervisorOf(['/var/run/argo/argoexec', 'emissary', '--', 'python', 'x.py'], WRAP.supervisors), ARGO_EMISSARY);
  t.strictSame(supervisorOf(['tini', '-g', '--', 'app'], WRAP.supervisors), ['tini', '-g', '--']);
  t.strictSame(supervisorOf(['tini', '--', 'app'], WRAP.supervisors), ['tini', '--']);
  t.equal(supervisorOf(['/var/run/argo/argoexec', 'emissary', 'python'], WRAP.supervisors), undefined, 'no "--": no match');
  t.equal(supervisorOf(['argoexec', 'emissary', '--', 'x'], WRAP.supervisors), undefined, 'another path');
  t.equal(supervisorOf(['python', '/var/run/argo/argoexec', 'emissary', '--'], WRAP.supervisors), undefined, 'not at the start');
  const nested = [['dumb-init', '--', 'tini', '--'], ['dumb-init', '--']];
  t.strictSame(supervisorOf(['dumb-init', '--', 'tini', '--', 'app'], nested), ['dumb-init', '--', 'tini', '--'], 'the longest, whichever is listed first');
  t.equal(supervisorOf(['tini'], WRAP.supervisors), undefined, 'shorter than the supervisor');
});

t.test("supervisorOf: Argo's executor with its options before --, as Argo 3.5 and later write it", async (t) => {
  const argo = ['/var/run/argo/argoexec', 'emissary'];
  const options = ['--loglevel', 'info', '--log-format', 'text', '--gloglevel', '0'];
  t.strictSame(supervisorOf([...argo, ...options, '--', 'python', 'x.py'], WRAP.supervisors), [...argo, ...options, '--']);
  t.strictSame(supervisorOf([...argo, '--loglevel=info', '-v', '--', 'x'], WRAP.supervisors), [...argo, '--loglevel=info', '-v', '--']);
  t.strictSame(supervisorOf([...argo, ...options, '--', 'app', '--', 'y'], WRAP.supervisors), [...argo, ...options, '--'], 'the first -- ends it');
  t.equal(supervisorOf([...argo, ...options, 'python', 'x.py'], WRAP.supervisors), undefined, 'no "--": no match');
  t.equal(supervisorOf([...argo, 'python', '--', 'x'], WRAP.supervisors), undefined, 'a word that is no option before "--"');
  t.equal(supervisorOf(['/var/run/argo/argoexec', 'wait', '--', 'x'], WRAP.supervisors), undefined, 'another subcommand of argoexec');
  t.equal(supervisorOf([...argo, '--loglevel', 'info', 'python', '--', 'x'], WRAP.supervisors), undefined, 'two words after an option');
  t.equal(supervisorOf([...argo, '--loglevel=info', 'python', '--', 'x'], WRAP.supervisors), undefined, 'a word after an option that holds its value');
  t.equal(supervisorOf(['tini', '-s', '--', 'app'], WRAP.supervisors), undefined, 'other supervisors match word for word');
  t.equal(isWrapped({ name: 'c', command: [...argo, ...options, '--', WRAPPER], args: ['--provider=aws', 'x'] }, WRAP), true, 'recognised when wrapped');
});

t.test('wrapCommandLine: secrets-init after the supervisor, its options before the rest', async (t) => {
  const args = ['--provider=aws', '--exit-early'];
  t.strictSame(wrapCommandLine(['/app', '-v'], args, WRAP), { command: [WRAPPER], args: ['--provider=aws', '--exit-early', '/app', '-v'] });
  t.strictSame(wrapCommandLine([...ARGO_EMISSARY, 'python', 'main.py'], args, WRAP), {
    command: [...ARGO_EMISSARY, WRAPPER],
    args: ['--provider=aws', '--exit-early', 'python', 'main.py'],
  });
  const bare = wrapCommandLine([...ARGO_EMISSARY], args, WRAP);
  t.ok('problem' in bare && /supervisor "\/var\/run\/argo\/argoexec emissary --" with no command after it/.test(bare.problem));
});

t.test('isWrapped: the wrapper first, or right after a supervisor', async (t) => {
  const c = (command: string[] | undefined, args?: string[]) => ({ name: 'c', ...(command ? { command } : {}), ...(args ? { args } : {}) });
  t.equal(isWrapped(c([WRAPPER], ['--provider=aws', '/app']), WRAP), true);
  t.equal(isWrapped(c([...ARGO_EMISSARY, WRAPPER], ['--provider=aws', 'x']), WRAP), true);
  t.equal(isWrapped(c([...ARGO_EMISSARY], [WRAPPER, '--provider=aws', 'x']), WRAP), true, 'however command and args split the line');
  t.equal(isWrapped(c([...ARGO_EMISSARY, 'python']), WRAP), false);
  t.equal(isWrapped(c(['/app', WRAPPER]), WRAP), false, 'the wrapper elsewhere');
  t.equal(isWrapped(c(undefined, [WRAPPER]), WRAP), false, 'no command: the image runs');
  t.equal(isWrapped(c([], [WRAPPER, '--provider=aws', '/app']), WRAP), false, 'an empty command is none: the image runs, with the wrapper as its argument');
  t.equal(isWrapped(c(['tini', '--', WRAPPER]), { ...WRAP, supervisors: [ARGO_EMISSARY] }), false, 'an unknown supervisor');
});
