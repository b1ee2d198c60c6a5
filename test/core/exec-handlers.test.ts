import t from 'tap';
import { execCommands, referredVariables } from '../../src/core/exec-handlers.js';

t.test('referredVariables: $(NAME), $NAME and ${NAME}', async (t) => {
  t.strictSame([...referredVariables(['sh', '-c', 'curl -u "$USER:${PASSWORD}" $(TOKEN_URL)/x'])].sort(), ['PASSWORD', 'TOKEN_URL', 'USER']);
  t.strictSame([...referredVariables(['echo $$DB_PASS', '$(my.var)', '${A:-x}', '$1', '$', 'plain'])].sort(), ['A', 'DB_PASS', 'my.var']);
  t.strictSame([...referredVariables([])], []);
});

t.test('execCommands: exec probes and lifecycle hooks that have a command', async (t) => {
  const found = execCommands({
    name: 'app',
    livenessProbe: { exec: { command: ['check'] } },
    readinessProbe: { httpGet: { path: '/', port: 80 } },
    startupProbe: { exec: { command: [] } },
    lifecycle: { postStart: { exec: { command: ['hook', 'start'] } }, preStop: { exec: { command: ['hook', 'stop'] } } },
  });
  t.strictSame(found.map((f) => [f.handler.label, f.command]), [
    ['livenessProbe', ['check']],
    ['postStart hook', ['hook', 'start']],
    ['preStop hook', ['hook', 'stop']],
  ]);
  t.strictSame(execCommands({ name: 'x', livenessProbe: 'junk', lifecycle: { preStop: { exec: { command: [1] } } } }), [], 'malformed fields are ignored');
});
