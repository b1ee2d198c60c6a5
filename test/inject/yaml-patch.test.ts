/**
 * The JSON Patch applied to YAML nodes: the same value as the patch applied to the data
 * (fast-json-patch), with the untouched nodes' comments kept, through aliases, merge keys and
 * null mappings; what it cannot apply is a YamlEditError, never a half-explained crash.
 */
import jsonPatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import t from 'tap';
import { parseDocument } from 'yaml';
import { YamlEditError, YamlPatcher } from '../../src/manifests/yaml-patch.js';
import { sameValue, withoutNulls } from '../../src/manifests/workloads.js';

const SOURCE = `# top
base: &base {a: 1, list: [x, y]}   # the anchor
pod:
  metadata:
  spec:
    shared: *base
    merged:
      <<: *base
      b: 2  # own
    items: [*base, {c: 3}]
`;

/** The document patched at `pod` (as the webhook sees the pod: without null fields), and whether it reads as the patched data. */
function patched(ops: Operation[]): { text: string; same: boolean } {
  const document = parseDocument(SOURCE, { merge: true, uniqueKeys: true });
  const before = document.toJS() as { pod: object };
  const pod = jsonPatch.applyPatch(withoutNulls(before.pod) as object, ops, true, false).newDocument;
  new YamlPatcher(document).apply(['pod'], ops);
  const text = document.toString();
  return { text, same: sameValue(parseDocument(text, { merge: true }).toJS(), { ...before, pod }) };
}

t.test('each operation gives the value fast-json-patch gives, the rest of the document kept', async (t) => {
  const cases: Array<[string, Operation[]]> = [
    ['add to a null mapping', [{ op: 'add', path: '/metadata', value: { annotations: { k: 'v' } } }]],
    ['add through an alias', [{ op: 'add', path: '/spec/shared/list/-', value: 'z' }]],
    ['add through a merge key', [{ op: 'add', path: '/spec/merged/list/0', value: 'w' }]],
    ['replace an own key of a merging mapping', [{ op: 'replace', path: '/spec/merged/b', value: 20 }]],
    ['remove from an aliased list item', [{ op: 'remove', path: '/spec/items/0/a' }]],
    ['move a list item', [{ op: 'move', from: '/spec/items/1', path: '/spec/items/0' }]],
  ];
  for (const [name, ops] of cases) {
    const { text, same } = patched(ops);
    t.ok(same, name);
    t.match(text, /^# top\nbase: &base \{ a: 1, list: \[ x, y \] \} # the anchor\n/, `${name}: the anchored node unchanged, its comment kept`);
  }
});

t.test('a null mapping filled in keeps its anchor\'s aliases null', async (t) => {
  const document = parseDocument('pod:\n  metadata: &none  # nothing yet\n  spec: {}\nother: *none\n', { merge: true });
  new YamlPatcher(document).apply(['pod'], [{ op: 'add', path: '/metadata/annotations', value: { k: 'v' } }]);
  const text = document.toString();
  t.same(parseDocument(text).errors, []);
  t.same(parseDocument(text).toJS(), { pod: { metadata: { annotations: { k: 'v' } }, spec: {} }, other: null });
  t.match(text, '# nothing yet');
});

t.test('what the patch cannot apply is a YamlEditError', async (t) => {
  const document = parseDocument('spec: {containers: [{name: a}]}\n');
  const patcher = new YamlPatcher(document);
  t.throws(() => patcher.apply([], [{ op: 'copy', from: '/spec', path: '/copy' }]), YamlEditError);
  t.throws(() => patcher.apply([], [{ op: 'add', path: '/spec/containers/5/command', value: ['x'] }]), YamlEditError);
  t.throws(() => patcher.apply([], [{ op: 'replace', path: '/spec/missing', value: 1 }]), YamlEditError);
  t.throws(() => patcher.apply([], [{ op: 'add', path: '/spec/containers/0/name/x', value: 1 }]), YamlEditError);
});

t.test('sameValue: key order and null fields aside, the same data', async (t) => {
  t.ok(sameValue({ a: 1, b: { c: [1, null] }, n: null }, { b: { c: [1, null] }, a: 1 }));
  t.notOk(sameValue({ a: 1 }, { a: '1' }));
  t.notOk(sameValue({ a: [1, 2] }, { a: [2, 1] }));
  t.notOk(sameValue({ a: {} }, { a: [] }));
  t.notOk(sameValue({ a: 1 }, { a: 1, b: 2 }));
});
