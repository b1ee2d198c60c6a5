import t from 'tap';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { execCommands, referredVariables } from '../../src/core/exec-handlers.js';

t.test('referredVariables: $(NAME), $NAME and ${NAME}', async (t) => {
  t.strictSame([...referredVariables(['sh', '-c', 'curl -u "$USER:${PASSWORD}" $(TOKEN_URL)/x'])].sort(), ['PASSWORD', 'TOKEN_URL', 'USER']);
  t.strictSame([...referredVariables(['echo $$DB_PASS', '$(my.var)', '${A:-x}', '$1', '$', 'plain'])].sort(), ['A', 'DB_PASS', 'my.var']);
  t.strictSame([...referredVariables([])], []);
});

t.test('referredVariables reads each $ as the regular expression of the three forms does', async () => {
  const model = (words: readonly string[]) => {
    const names = new Set<string>();
    for (const word of words) {
      for (const match of word.matchAll(/\$(?:\(([^)]*)\)|\{([A-Za-z_][A-Za-z0-9_]*)|([A-Za-z_][A-Za-z0-9_]*))/g)) names.add((match[1] ?? match[2] ?? match[3])!);
    }
    return [...names];
  };
  const word = fc.array(fc.constantFrom('$', '(', ')', '{', '}', 'A', '_', '1', ' '), { maxLength: 16 }).map((chars) => chars.join(''));
  fc.assert(fc.property(fc.array(word, { maxLength: 3 }), (words) => assert.deepEqual([...referredVariables(words)], model(words), JSON.stringify(words))), { numRuns: 5000 });
});

t.test('a probe command of many unclosed $( is read in linear time', { timeout: 5_000 }, async (t) => {
  // 200,000 of them (400 KB; a request body may hold five times as many): searched for a `)`
  // from each, the word took half a minute to read, and a 2 MiB one over ten minutes.
  t.strictSame([...referredVariables([`$(A) $B ${'$('.repeat(200_000)}\${C}`])], ['A', 'B', 'C']);
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
