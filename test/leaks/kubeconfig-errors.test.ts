/**
 * A kubeconfig whose token or password YAML reads as something else (an alias `*…`, a tag
 * `!…`): the server (at start), inject and audit say it cannot be loaded, where, and why,
 * never with the token. Nor does reading its `tokenFile` users print process warnings.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import fc from 'fast-check';
import { KubeConfigError, loadKubeConfig } from '../../src/kubernetes/kubeconfig.js';

const CANARY = 'CANARY7f3aTokenQz9';
const dir = await mkdtemp(join(tmpdir(), 'kubeconfig-errors-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

function kubeconfig(userLines: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: c',
    '  cluster: {server: "https://127.0.0.1:6443"}',
    'contexts:',
    '- name: x',
    '  context: {cluster: c, user: u}',
    'current-context: x',
    'users:',
    '- name: u',
    '  user:',
    userLines,
    '',
  ].join('\n');
}

function leaked(text: string): boolean {
  for (let i = 0; i + 5 <= CANARY.length; i++) if (text.includes(CANARY.slice(i, i + 5))) return true;
  return false;
}

let n = 0;
async function loadError(text: string): Promise<{ message: string | undefined; warnings: string[] }> {
  const path = join(dir, `config-${n++}`);
  await writeFile(path, text);
  const warnings: string[] = [];
  const listener = (warning: Error) => warnings.push(warning.message);
  process.on('warning', listener);
  try {
    loadKubeConfig({ KUBECONFIG: path });
    return { message: undefined, warnings };
  } catch (error) {
    if (!(error instanceof KubeConfigError)) throw error;
    return { message: error.message, warnings };
  } finally {
    await new Promise((resolve) => setImmediate(resolve));
    process.off('warning', listener);
  }
}

t.test('a token or password YAML reads as an alias or a tag is not quoted', async (t) => {
  const cases: Array<[string, RegExp]> = [
    [`    token: *${CANARY}`, /invalid YAML: unidentified alias \(line 13, column \d+\)$/],
    [`    username: admin\n    password: *${CANARY}`, /invalid YAML: unidentified alias \(line 14, column \d+\)$/],
    [`    token: !${CANARY} x`, /invalid YAML: unknown tag \(line 13, column \d+\)$/],
    [`    token: !<${CANARY}> x`, /invalid YAML: unknown tag \(line 13, column \d+\)$/],
    [`    token: !${CANARY}!x y`, /invalid YAML: undeclared tag handle \(line 13, column \d+\)$/],
    [`    token: !!int ${CANARY}`, /invalid YAML: cannot resolve a node with its explicit tag \(line 13, column \d+\)$/],
  ];
  for (const [lines, expected] of cases) {
    const { message } = await loadError(kubeconfig(lines));
    t.match(message, expected, lines);
    t.notOk(leaked(message ?? ''), `not quoted: ${message ?? ''}`);
  }
});

t.test('whatever surrounds a token, a refusal never quotes it', async (t) => {
  const special = fc.constantFrom(...'|>!&*%@`\'"[]{}:,?-#\\<> \t'.split(''), '!!', '!<', '\\x', '\\U', '\n', '\n      ', ': ');
  const around = fc.array(special, { maxLength: 3 }).map((parts) => parts.join(''));
  await fc.assert(
    fc.asyncProperty(around, around, fc.constantFrom('token', 'password', 'client-key-data', 'tokenFile'), async (before, after, key) => {
      const { message, warnings } = await loadError(kubeconfig(`    ${key}: ${before}${CANARY}${after}`));
      if (message !== undefined && leaked(message)) throw new Error(`quoted: ${message}`);
      const warned = warnings.find(leaked);
      if (warned !== undefined) throw new Error(`warned: ${warned}`);
    }),
    { numRuns: 1500 },
  );
});

t.test('a tokenFile user whose mapping keys hold a token prints no warning', async (t) => {
  const { message, warnings } = await loadError(kubeconfig(`    tokenFile: /nonexistent/token\n    ? [${CANARY}]\n    : x`));
  t.equal(message, undefined, 'loaded');
  t.same(warnings.filter(leaked), []);
});
