import t from 'tap';
import { escapeForKubelet, needsImageConfig, originalCommand } from '../../src/core/original-command.js';
import type { Container } from '../../src/core/pod.js';
import { kubeletExpand, symbolicValue } from '../helpers/kubelet.js';

const IMAGE = { entrypoint: ['/docker-entrypoint.sh'], cmd: ['nginx', '-g', 'daemon off;'] };
const c = (fields: Partial<Container>): Container => ({ name: 'app', image: 'nginx', ...fields });

t.test('command and args set: command + args', async (t) => {
  const container = c({ command: ['/app', '--serve'], args: ['--port', '80'] });
  t.equal(needsImageConfig(container), false);
  t.strictSame(originalCommand(container, undefined), ['/app', '--serve', '--port', '80']);
  t.strictSame(originalCommand(container, IMAGE), ['/app', '--serve', '--port', '80'], 'the image does not matter');
});

t.test('command only: command', async (t) => {
  for (const args of [undefined, []]) {
    const container = c(args === undefined ? { command: ['/app'] } : { command: ['/app'], args });
    t.equal(needsImageConfig(container), false);
    t.strictSame(originalCommand(container, undefined), ['/app']);
    t.strictSame(originalCommand(container, IMAGE), ['/app'], 'image CMD is not used when command is set');
  }
});

t.test('args only: image ENTRYPOINT + args, CMD ignored', async (t) => {
  for (const command of [undefined, []]) {
    const container = c(command === undefined ? { args: ['-v'] } : { command, args: ['-v'] });
    t.equal(needsImageConfig(container), true);
    t.equal(originalCommand(container, undefined), undefined, 'unknown without the image');
    t.strictSame(originalCommand(container, IMAGE), ['/docker-entrypoint.sh', '-v']);
    t.strictSame(originalCommand(container, { entrypoint: [], cmd: ['x'] }), ['-v'], 'no ENTRYPOINT: args alone');
  }
});

t.test('neither: image ENTRYPOINT + CMD', async (t) => {
  for (const fields of [{}, { command: [] }, { args: [] }, { command: [], args: [] }]) {
    const container = c(fields);
    t.equal(needsImageConfig(container), true, JSON.stringify(fields));
    t.equal(originalCommand(container, undefined), undefined);
    t.strictSame(originalCommand(container, IMAGE), ['/docker-entrypoint.sh', 'nginx', '-g', 'daemon off;'], JSON.stringify(fields));
    t.strictSame(originalCommand(container, { entrypoint: [], cmd: ['/bin/sh'] }), ['/bin/sh']);
    t.strictSame(originalCommand(container, { entrypoint: [], cmd: [] }), []);
  }
});

t.test('an image ENTRYPOINT of exactly [""] (a reset in the Dockerfile) is no ENTRYPOINT, as container runtimes read it', async (t) => {
  const reset = { entrypoint: [''], cmd: ['/app', 'serve'] };
  t.strictSame(originalCommand(c({}), reset), ['/app', 'serve'], 'ENTRYPOINT [""] + CMD: CMD alone');
  t.strictSame(originalCommand(c({ args: ['/bin/sh'] }), reset), ['/bin/sh'], 'ENTRYPOINT [""] + args: args alone');
  t.strictSame(originalCommand(c({}), { entrypoint: [''], cmd: [] }), [], 'nothing to run');
  t.strictSame(originalCommand(c({}), { entrypoint: ['', ''], cmd: ['/app'] }), ['', '', '/app'], 'only exactly one empty word is a reset');
  t.strictSame(originalCommand(c({}), { entrypoint: ['', '/entry'], cmd: [] }), ['', '/entry']);
  t.strictSame(originalCommand(c({ command: [''], args: ['x'] }), reset), ['', 'x'], 'a container\'s own command is passed on as the kubelet passes it');
});

t.test('the container is not modified', async (t) => {
  const container = c({ command: ['/app'], args: ['a'] });
  const before = structuredClone(container);
  const result = originalCommand(container, IMAGE);
  result?.push('mutated');
  t.strictSame(container, before);
});

t.test('words from the image are escaped for the kubelet; the container\'s own are not', async (t) => {
  const image = { entrypoint: ['/bin/sh', '-c', 'echo $HOME $(HOSTNAME) $$ cost: 5$'], cmd: ['$(A)', '$$B', '$'] };
  t.strictSame(originalCommand(c({}), image), ['/bin/sh', '-c', 'echo $$HOME $$(HOSTNAME) $$$$ cost: 5$$', '$$(A)', '$$$$B', '$$']);
  t.strictSame(originalCommand(c({ args: ['$(A)', '$$'] }), image), ['/bin/sh', '-c', 'echo $$HOME $$(HOSTNAME) $$$$ cost: 5$$', '$(A)', '$$'], 'container args stay as written');
  t.strictSame(originalCommand(c({ command: ['/bin/echo', '$(A)'], args: ['$$'] }), image), ['/bin/echo', '$(A)', '$$'], 'container command and args stay as written');
  t.equal(escapeForKubelet('no dollar'), 'no dollar');
  t.equal(escapeForKubelet('$$$'), '$$$$$$');
});

t.test('escaped words survive the kubelet\'s expansion unchanged', async (t) => {
  for (const word of ['$(A)', '$$', '$', 'a$b', '$(', '$$(X)', '5$', 'plain', '$$$(B)c$']) {
    t.equal(kubeletExpand(escapeForKubelet(word), symbolicValue), word, word);
  }
});
