import t from 'tap';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { computePodMutation } from '../../src/core/pod-mutation.js';
import { leftAsIs } from '../../src/core/left-as-is.js';
import { expandedVariables, fixedStart, scanExpansion } from '../../src/core/kubelet-expansion.js';
import type { ExpandedText } from '../../src/core/expanded-text.js';
import { UNKNOWN_TEXT, joinTexts, literalText, textReference } from '../../src/core/expanded-text.js';
import type { EnvVar } from '../../src/core/pod.js';
import { kubeletExpand } from '../helpers/kubelet.js';
import { AWS_REFS, GOOGLE_REFS, NEAR_MISSES, container, facts, findContainer, mutateAndApply, objects, pod, SETTINGS } from '../helpers/pods.js';

// How the kubelet builds a container's environment decides which variables hold references.

t.test('a later env entry replaces a variable from envFrom', async (t) => {
  const withDefaults = objects([[{ kind: 'ConfigMap', name: 'defaults' }, { DB_PASSWORD: AWS_REFS[0]!, MODE: 'prod' }]]);
  const overriddenByGoogle = pod({
    containers: [container('app', { command: ['/app'], envFrom: [{ configMapRef: { name: 'defaults' } }], env: [{ name: 'DB_PASSWORD', value: GOOGLE_REFS[0]! }] })],
  });
  const { result } = mutateAndApply(overriddenByGoogle, facts(withDefaults));
  t.strictSame(findContainer(result, 'app')?.args, ['--provider=google', '/app'], 'not "mixed": the AWS value is shadowed');

  const overriddenByPlain = pod({
    containers: [container('app', { command: ['/app'], envFrom: [{ configMapRef: { name: 'defaults' } }], env: [{ name: 'DB_PASSWORD', value: 'hunter2' }] })],
  });
  const outcome = computePodMutation(overriddenByPlain, facts(withDefaults), SETTINGS);
  t.same(outcome, { allowed: true, warnings: [] }, 'no reference is left, so nothing is injected');

  const overriddenByFieldRef = pod({
    containers: [container('app', { command: ['/app'], env: [{ name: 'X', value: AWS_REFS[0]! }, { name: 'X', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }] })],
  });
  t.same(computePodMutation(overriddenByFieldRef, facts(), SETTINGS), { allowed: true, warnings: [] });
});

t.test('a later envFrom object replaces keys of an earlier one, prefixes included', async (t) => {
  const data = objects([
    [{ kind: 'Secret', name: 'first' }, { TOKEN: AWS_REFS[0]! }],
    [{ kind: 'ConfigMap', name: 'second' }, { TOKEN: 'plain' }],
  ]);
  const shadowed = pod({ containers: [container('app', { command: ['/app'], envFrom: [{ secretRef: { name: 'first' } }, { configMapRef: { name: 'second' } }] })] });
  t.same(computePodMutation(shadowed, facts(data), SETTINGS), { allowed: true, warnings: [] });
  const prefixed = pod({ containers: [container('app', { command: ['/app'], envFrom: [{ secretRef: { name: 'first' } }, { configMapRef: { name: 'second' }, prefix: 'CM_' }] })] });
  const { result, mutation } = mutateAndApply(prefixed, facts(data));
  t.strictSame(findContainer(result, 'app')?.args, ['--provider=aws', '/app'], 'CM_TOKEN does not shadow TOKEN');
  t.strictSame(mutation.audit, { app: ['Secret first[TOKEN]'] });
});

t.test('an optional key that is missing leaves the earlier definition in place', async (t) => {
  const data = objects([[{ kind: 'Secret', name: 's' }, { OTHER: 'x' }]]);
  const input = pod({
    containers: [container('app', { command: ['/app'], env: [{ name: 'K', value: AWS_REFS[0]! }, { name: 'K', valueFrom: { secretKeyRef: { name: 's', key: 'K', optional: true } } }] })],
  });
  const { result, outcome } = mutateAndApply(input, facts(data));
  t.strictSame(findContainer(result, 'app')?.args, ['--provider=aws', '/app']);
  t.match(outcome.warnings, [/optional key "K" is not in Secret team-a\/s/]);
});

t.test('$(VAR) expansion of a variable that holds a reference counts as a reference', async (t) => {
  const data = objects([[{ kind: 'Secret', name: 'db' }, { password: GOOGLE_REFS[0]! }]]);
  const input = pod({
    containers: [
      container('app', {
        command: ['/app'],
        env: [
          { name: 'A', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } },
          { name: 'B', value: '$(A)' },
          { name: 'A', value: 'shadowed later, but B already holds the reference' },
        ],
      }),
      // A holds the reference when B is defined, and is plain afterwards: only a wrong
      // expansion of the escaped $$(A) would leave a reference in the environment.
      container('escaped', { command: ['/e'], env: [{ name: 'A', value: GOOGLE_REFS[0]! }, { name: 'B', value: '$$(A)' }, { name: 'A', value: 'plain' }] }),
    ],
  });
  const { result, mutation } = mutateAndApply(input, facts(data));
  t.strictSame(findContainer(result, 'app')?.args, ['--provider=google', '/app']);
  t.strictSame(findContainer(result, 'escaped')?.command, ['/e'], '$$(A) is a literal, not an expansion');
  t.strictSame(mutation.audit, { app: ['Secret db[password]'] });
});

t.test('a non-empty value wins over valueFrom; an empty one does not (as the kubelet judges it)', async (t) => {
  const data = objects([[{ kind: 'Secret', name: 'db' }, { password: AWS_REFS[0]! }]]);
  const from = { secretKeyRef: { name: 'db', key: 'password' } };
  const input = pod({
    containers: [
      container('empty', { command: ['/e'], env: [{ name: 'DB', value: '', valueFrom: from }] }),
      container('valued', { command: ['/v'], env: [{ name: 'DB', value: 'plain', valueFrom: from }] }),
    ],
  });
  const { result, mutation } = mutateAndApply(input, facts(data));
  t.strictSame(findContainer(result, 'empty')?.command, ['/helper/bin/secrets-init'], 'value "" with valueFrom: the Secret decides');
  t.strictSame(findContainer(result, 'valued')?.command, ['/v'], 'a non-empty value decides');
  t.strictSame(mutation.audit, { empty: ['Secret db[password]'] });
});

t.test('expandedVariables follows the kubelet syntax', async (t) => {
  t.strictSame(expandedVariables('$(A)-$(B_2)'), ['A', 'B_2']);
  t.strictSame(expandedVariables('$$(A) $$$(B)'), ['B']);
  t.strictSame(expandedVariables('$(unclosed'), []);
  t.strictSame(expandedVariables('no $ here $x'), []);
});

// A value whose `$(NAME)`s the kubelet expands into a reference holds one.

const wrappedWith = (env: EnvVar[], data = objects([])) => {
  const outcome = computePodMutation(pod({ containers: [container('app', { command: ['/app'], env })] }), facts(data), SETTINGS);
  if (!outcome.allowed) throw new Error(outcome.reason);
  return outcome.mutation === undefined ? undefined : findContainer(mutateAndApply(pod({ containers: [container('app', { command: ['/app'], env })] }), facts(data)).result, 'app')?.args?.[0];
};
const DB_TAIL = ':secretsmanager:us-east-1:123456789012:secret:db';

t.test('$(NAME) of earlier literal values is expanded, and the result tested as a reference', async (t) => {
  const partition = [{ name: 'PARTITION', value: 'aws' }, { name: 'DB_PASSWORD', value: `arn:$(PARTITION)${DB_TAIL}` }];
  const { mutation } = mutateAndApply(pod({ containers: [container('app', { command: ['/app'], env: partition })] }));
  t.strictSame(mutation.audit, { app: [`arn:$(PARTITION)${DB_TAIL}`] }, 'wrapped; the origin is the value as written');
  const cases: Array<[string, EnvVar[], string | undefined]> = [
    ['aws-cn', [{ name: 'P', value: 'aws-cn' }, { name: 'DB', value: `arn:$(P)${DB_TAIL}` }], '--provider=aws'],
    ['google', [{ name: 'SM', value: 'secretmanager' }, { name: 'K', value: 'gcp:$(SM):projects/p/secrets/s' }], '--provider=google'],
    ['SSM, :parameter/ from a variable', [{ name: 'KIND', value: 'parameter' }, { name: 'T', value: 'arn:aws:ssm:us-east-1:1:$(KIND)/app/token' }], '--provider=aws'],
    ['SSM in aws-cn, :parameter/ from a variable', [{ name: 'KIND', value: 'parameter' }, { name: 'T', value: 'arn:aws-cn:ssm:cn-north-1:1:$(KIND)/app/token' }], '--provider=aws'],
    ['SSM, :parameter/ across a join', [{ name: 'TAIL', value: 'eter/app' }, { name: 'T', value: 'arn:aws:ssm:us-east-1:1:param$(TAIL)' }], '--provider=aws'],
    ['SSM, no :parameter/', [{ name: 'KIND', value: 'document' }, { name: 'T', value: 'arn:aws:ssm:us-east-1:1:$(KIND)/x' }], undefined],
    ['nested: values expanded before they are used', [{ name: 'A', value: 'aws' }, { name: 'B', value: 'arn:$(A)' }, { name: 'DB', value: `$(B)${DB_TAIL}` }], '--provider=aws'],
    ['the whole reference in a variable, used alone', [{ name: 'A', value: AWS_REFS[0]! }, { name: 'B', value: '$(A)' }], '--provider=aws'],
    ['a later definition is not seen', [{ name: 'DB', value: `arn:$(PARTITION)${DB_TAIL}` }, { name: 'PARTITION', value: 'aws' }], undefined],
    ['the last definition before the value wins', [{ name: 'P', value: 'gcp' }, { name: 'P', value: 'aws' }, { name: 'DB', value: `arn:$(P)${DB_TAIL}` }, { name: 'P', value: 'x' }], '--provider=aws'],
    ['a redefinition before the value wins', [{ name: 'P', value: 'aws' }, { name: 'P', value: 'x' }, { name: 'DB', value: `arn:$(P)${DB_TAIL}` }], undefined],
    ['$$ escapes', [{ name: 'P', value: 'aws' }, { name: 'DB', value: `arn:$$(P)${DB_TAIL}` }], undefined],
    ['an unclosed $( stays', [{ name: 'P', value: 'aws' }, { name: 'DB', value: `arn:$(P${DB_TAIL}` }], undefined],
    ['an undefined name stays as written', [{ name: 'DB', value: `arn:$(NOWHERE)${DB_TAIL}` }], undefined],
    ['an empty value expands to nothing', [{ name: 'E', value: '' }, { name: 'DB', value: `$(E)arn:aws${DB_TAIL}` }], '--provider=aws'],
    ['text before the reference spoils it', [{ name: 'P', value: 'aws' }, { name: 'DB', value: `x-arn:$(P)${DB_TAIL}` }], undefined],
    // A value that cannot be a reference itself (its start rules it out) may still be part of one.
    [
      ':parameter/ from a value that is no reference itself',
      [{ name: 'X', value: 'parameter/app' }, { name: 'V', value: ':$(X)' }, { name: 'T', value: 'arn:aws:ssm:us-east-1:1$(V)' }],
      '--provider=aws',
    ],
    [
      'values that start like no reference, expanded into one through each other',
      [{ name: 'X', value: 'eter/app' }, { name: 'W', value: 'param$(X)' }, { name: 'V', value: ':$(W)' }, { name: 'T', value: 'arn:aws:ssm:us-east-1:1$(V)' }],
      '--provider=aws',
    ],
    ['a value that starts like no reference, expanded into one', [{ name: 'X', value: 'aws' }, { name: 'V', value: ':$(X)' }, { name: 'T', value: `arn$(V)${DB_TAIL}` }], '--provider=aws'],
  ];
  for (const [label, env, first] of cases) t.equal(wrappedWith(env), first, label);
});

t.test('values the pod does not give (Secrets, ConfigMaps, field references) are taken to make no reference', async (t) => {
  const data = objects([
    [{ kind: 'ConfigMap', name: 'cloud' }, { PARTITION: 'aws', TAIL: DB_TAIL }],
    [{ kind: 'Secret', name: 'db' }, { password: GOOGLE_REFS[0]! }],
  ]);
  const partitionFrom = (source: EnvVar | 'envFrom'): EnvVar[] => [
    ...(source === 'envFrom' ? [] : [source]),
    { name: 'DB', value: `arn:$(${source === 'envFrom' ? 'CFG_PARTITION' : 'PARTITION'})${DB_TAIL}` },
  ];
  const envFrom = { command: ['/app'], envFrom: [{ configMapRef: { name: 'cloud' }, prefix: 'CFG_' }], env: partitionFrom('envFrom') };
  t.same(computePodMutation(pod({ containers: [container('app', envFrom)] }), facts(data), SETTINGS), { allowed: true, warnings: [] }, 'envFrom with a prefix: unknown, no reference');
  t.equal(wrappedWith(partitionFrom({ name: 'PARTITION', valueFrom: { configMapKeyRef: { name: 'cloud', key: 'PARTITION' } } }), data), undefined, 'configMapKeyRef');
  t.equal(wrappedWith(partitionFrom({ name: 'PARTITION', valueFrom: { fieldRef: { fieldPath: "metadata.annotations['partition']" } } }), data), undefined, 'fieldRef');
  t.equal(wrappedWith([{ name: 'PARTITION', valueFrom: { configMapKeyRef: { name: 'cloud', key: 'PARTITION' } } }, { name: 'DB', value: `arn:aws:secretsmanager:$(PARTITION)` }], data), '--provider=aws', 'unknown text after a reference\'s start leaves it one');
  t.equal(wrappedWith([{ name: 'TAIL', valueFrom: { configMapKeyRef: { name: 'cloud', key: 'TAIL' } } }, { name: 'T', value: 'arn:aws:ssm:us-east-1:1:$(TAIL)' }], data), undefined, 'SSM whose :parameter/ would come from an object');
  t.equal(wrappedWith([{ name: 'PARTITION', valueFrom: { configMapKeyRef: { name: 'cloud', key: 'PARTITION' } } }, { name: 'DB', value: `$(PARTITION)arn:aws${DB_TAIL}` }], data), undefined, 'unknown text before a reference\'s start is taken to spoil it');
  t.equal(wrappedWith([{ name: 'PW', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } }, { name: 'URL', value: 'postgres://u:$(PW)@db' }], data), '--provider=google', 'an object value holding a reference still counts where it is expanded');
  const oddName = ':parameter/x';
  t.equal(
    wrappedWith([{ name: oddName, valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }, { name: 'T', value: `arn:aws:ssm:us-east-1:1:$(${oddName})` }], data),
    undefined,
    'a defined variable\'s $(NAME) is replaced by its unknown value, not left as written',
  );
});

t.test('expansions are bounded: values that double at each step, and :parameter/ far into a long value', async (t) => {
  const doubling: EnvVar[] = [{ name: 'V0', value: 'arn:aws:ssm:us-east-1:1:' }];
  for (let i = 1; i <= 60; i++) doubling.push({ name: `V${i}`, value: `$(V${i - 1})$(V${i - 1})` });
  doubling.push({ name: 'LAST', value: '$(V60):parameter/x' });
  // Expanded in full, the last value would be 2^60 times 24 characters: it would never finish within the test's timeout.
  t.equal(wrappedWith(doubling), '--provider=aws', 'decided');
  const long = [{ name: 'PAD', value: 'x'.repeat(10_000) }, { name: 'T', value: 'arn:aws:ssm:us-east-1:1:$(PAD)$(PAD):param' }, { name: 'U', value: '$(T)eter/app' }];
  t.equal(wrappedWith(long), '--provider=aws');
});

// Mutating webhooks see pods before the API server validates them: one name may repeat.
t.test('many env entries of one name that expand variables are analysed in linear time', { timeout: 10_000 }, async (t) => {
  // 40,000 entries: work quadratic in them takes about half a minute, past this test's timeout.
  const env: EnvVar[] = Array.from({ length: 40_000 }, () => ({ name: 'A', value: '$(B)$(B)$(B)$(B)$(B)$(B)' }));
  const outcome = computePodMutation(pod({ containers: [container('app', { command: ['/app'], env })] }), facts(), SETTINGS);
  t.match(outcome, { allowed: false }, 'denied: more variables than the pod may define');
});

t.test('envFrom prefixes are bounded: a long one before each of thousands of keys is denied', async (t) => {
  const data = Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`K${i}`, i === 0 ? AWS_REFS[0]! : 'plain']));
  const big = objects([[{ kind: 'ConfigMap', name: 'big' }, data]]);
  const withPrefix = (prefix: string) => pod({ containers: [container('app', { command: ['/app'], envFrom: [{ prefix, configMapRef: { name: 'big' } }] })] });
  // 10,000 keys and a prefix of 10,000 characters: 100 MB of names (and a request of 2 MiB,
  // with a prefix of 1 MB, 10 GB: past the heap).
  const outcome = computePodMutation(withPrefix('P'.repeat(10_000)), facts(big), SETTINGS);
  t.match(outcome, {
    allowed: false,
    reason: 'the envFrom prefixes, each written before every key its object gives, make more than 1 MiB of variable names in all at container "app"; shorten the prefixes',
  });
  const { result } = mutateAndApply(withPrefix('APP_'), facts(big));
  t.strictSame(findContainer(result, 'app')?.args, ['--provider=aws', '/app'], 'real prefixes are a few characters');
});

t.test('a value of many unclosed $( is scanned in linear time', { timeout: 5_000 }, async (t) => {
  // 1,000,000 of them (2 MiB, a request body at its limit): searched for a `)` from each, the value takes about half a minute to analyse.
  const value = `arn:aws:secretsmanager:$(A)${'$('.repeat(1_000_000)}$$x`;
  let rebuilt = '';
  const names: string[] = [];
  scanExpansion(value, (text) => (rebuilt += text), (name) => names.push(name));
  t.equal(rebuilt, `arn:aws:secretsmanager:${'$('.repeat(1_000_000)}$x`, 'unclosed $( stays as written, $$ is still collapsed after it');
  t.strictSame(names, ['A']);
  const env: EnvVar[] = [{ name: 'A', value: 'x' }, { name: 'B', value }];
  t.equal(wrappedWith(env), '--provider=aws');
});

t.test('scanExpansion and fixedStart agree with the kubelet model', async () => {
  const valueArb = fc.array(fc.constantFrom('$', '(', ')', 'A', 'B', 'x', ':'), { maxLength: 14 }).map((chars) => chars.join(''));
  const lookups: Array<(name: string) => string | undefined> = [() => undefined, (name) => (name === 'A' ? 'a$(B)' : undefined), (name) => `<${name}>`, () => ''];
  fc.assert(
    fc.property(valueArb, fc.constantFrom(...lookups), (value, lookup) => {
      let rebuilt = '';
      scanExpansion(value, (text) => (rebuilt += text), (name) => (rebuilt += lookup(name) ?? `$(${name})`));
      const expanded = kubeletExpand(value, lookup);
      assert.equal(rebuilt, expanded, value);
      assert.ok(expanded.startsWith(fixedStart(value)), `${value}: ${expanded} starts with ${fixedStart(value)}`);
    }),
    { numRuns: 3000 },
  );
});

/**
 * The runtime's rule for which values are references, stated again for this test from
 * reference-behaviour.md, and the text an unknown part stands for: none of its characters.
 */
function modelReference(value: string): string | undefined {
  if (/^arn:aws(-cn)?:secretsmanager:/.test(value)) return 'aws';
  if (/^arn:aws(-cn)?:ssm:/.test(value) && value.includes(':parameter/')) return 'aws';
  if (value.startsWith('gcp:secretmanager:')) return 'google';
  return undefined;
}
const UNKNOWN_MODEL = '?';

t.test('an expanded text built from parts tests as the whole value would, however it is grouped', async () => {
  // Values cut into parts at random places, one part sometimes unknown, the parts joined in a random grouping.
  const VALUES = [
    ...AWS_REFS,
    ...GOOGLE_REFS,
    ...NEAR_MISSES,
    `arn:aws:ssm:us-east-1:1:${'x'.repeat(80)}:parameter/app`,
    `arn:aws-cn:secretsmanager:${'x'.repeat(100)}`,
    `${'x'.repeat(70)}arn:aws:secretsmanager:us-east-1:1:secret:s`,
    'arn:aws:ssm:us-east-1:1:param/eter/x',
    'arn:aws:ssm:',
    'gcp:secretmanager:',
    '',
  ];
  type Tree = string | undefined | [Tree, Tree];
  const caseArb = fc
    .record({ value: fc.constantFrom(...VALUES), cuts: fc.array(fc.nat(), { maxLength: 6 }), unknown: fc.option(fc.nat(), { nil: undefined }), splits: fc.array(fc.nat(), { minLength: 8, maxLength: 8 }) })
    .map(({ value, cuts, unknown, splits }) => {
      const points = [...new Set(cuts.map((cut) => cut % (value.length + 1)))].sort((a, b) => a - b);
      const parts: Array<string | undefined> = [0, ...points].map((from, i) => value.slice(from, [...points, value.length][i]));
      if (unknown !== undefined) parts[unknown % parts.length] = undefined;
      let next = 0;
      const group = (list: Array<string | undefined>): Tree => {
        if (list.length === 1) return list[0];
        const at = 1 + (splits[next++ % splits.length]! % (list.length - 1));
        return [group(list.slice(0, at)), group(list.slice(at))];
      };
      return group(parts);
    });
  const build = (tree: Tree): ExpandedText => (Array.isArray(tree) ? joinTexts(build(tree[0]), build(tree[1])) : tree === undefined ? UNKNOWN_TEXT : literalText(tree));
  const whole = (tree: Tree): string => (Array.isArray(tree) ? whole(tree[0]) + whole(tree[1]) : tree ?? UNKNOWN_MODEL);
  let references = 0;
  let runs = 0;
  fc.assert(
    fc.property(caseArb, (tree) => {
      runs++;
      const expected = modelReference(whole(tree));
      if (expected !== undefined) references++;
      assert.equal(textReference(build(tree)), expected, JSON.stringify(whole(tree)));
    }),
    { numRuns: 5000 },
  );
  assert.ok(references > runs / 10 && references < runs * 0.8, `${references} of ${runs} texts were references`);
});

t.test('a field reference to a pod annotation holding a reference holds it: the kubelet gives the annotation\'s value, which secrets-init resolves', async (t) => {
  const fromAnnotation = (key: string): EnvVar => ({ name: 'DB', valueFrom: { fieldRef: { fieldPath: `metadata.annotations['${key}']` } } });
  const annotated = pod({ containers: [container('app', { command: ['/app'], env: [fromAnnotation('example.com/db')] })] }, { 'example.com/db': AWS_REFS[0]! });
  t.equal(leftAsIs(annotated, SETTINGS), false, 'not decided by the shortcut');
  t.strictSame(findContainer(mutateAndApply(annotated).result, 'app')?.args, ['--provider=aws', '/app']);

  const google = pod({ containers: [container('app', { command: ['/app'], env: [fromAnnotation('db')] })] }, { db: GOOGLE_REFS[1]! });
  t.strictSame(findContainer(mutateAndApply(google).result, 'app')?.args, ['--provider=google', '/app']);

  const expanded = pod({ containers: [container('app', { command: ['/app'], env: [{ name: 'P', valueFrom: { fieldRef: { fieldPath: "metadata.annotations['partition']" } } }, { name: 'DB', value: 'arn:$(P):secretsmanager:us-east-1:1:secret:x' }] })] }, { partition: 'aws-cn' });
  t.strictSame(findContainer(mutateAndApply(expanded).result, 'app')?.args, ['--provider=aws', '/app'], 'its value is known, so an expansion of it is too');

  for (const [label, input] of [
    ['plain annotation', pod({ containers: [container('app', { command: ['/app'], env: [fromAnnotation('db')] })] }, { db: 'postgres://db' })],
    ['no such annotation', pod({ containers: [container('app', { command: ['/app'], env: [fromAnnotation('db')] })] }, { other: AWS_REFS[0]! })],
    ['no annotation of a name every object inherits', pod({ containers: [container('app', { command: ['/app'], env: ['toString', 'constructor', '__proto__'].map(fromAnnotation) })] }, { other: AWS_REFS[0]! })],
    ['a label is no annotation', pod({ containers: [container('app', { command: ['/app'], env: [{ name: 'DB', valueFrom: { fieldRef: { fieldPath: "metadata.labels['db']" } } }] })] }, { db: AWS_REFS[0]! })],
  ] as const) {
    t.same(computePodMutation(input, facts(), SETTINGS), { allowed: true, warnings: [] }, label);
  }
});
