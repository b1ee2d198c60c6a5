import t from 'tap';
import type { Operation } from 'fast-json-patch';
import { INIT_CONTAINER_NAME, buildInitContainer, buildVolume, initContainerArgs, podUser } from '../../src/core/init-container.js';
import { patchJson } from '../../src/core/json-patch.js';
import { sharedJson, sharedValue } from '../../src/core/shared-json.js';
import { wrapperPath } from '../../src/core/wrapping.js';
import { ImageReferenceError } from '../../src/core/image-reference.js';
import type { Container } from '../../src/core/pod.js';

const HEX = 'abcdef0123456789'.repeat(4);
const PATH = '/helper/bin';
const COPY = ['copy', PATH];
const CP = ['cp', '/usr/local/bin/secrets-init', PATH];

t.test('initContainerArgs: releases with the copy subcommand, and tags that are no version', async (t) => {
  for (const image of [
    'ghcr.io/doitintl/secrets-init:0.5.3',
    'ghcr.io/doitintl/secrets-init:v0.4.0',
    'ghcr.io/doitintl/secrets-init:0.4.0',
    'ghcr.io/doitintl/secrets-init:0.4.0-rc1',
    'ghcr.io/doitintl/secrets-init:0.4',
    'ghcr.io/doitintl/secrets-init:1.0.0',
    'ghcr.io/doitintl/secrets-init:0.10.0',
    'ghcr.io/doitintl/secrets-init:latest',
    'ghcr.io/doitintl/secrets-init:main',
    'ghcr.io/doitintl/secrets-init',
    `ghcr.io/doitintl/secrets-init@sha256:${HEX}`,
    'registry:5000/secrets-init',
    'doitintl/secrets-init',
  ]) {
    t.strictSame(initContainerArgs(image, PATH), COPY, image);
  }
});

t.test('initContainerArgs: releases before 0.4.0 copy with cp', async (t) => {
  for (const image of [
    'registry:5000/secrets-init:0.3.2',
    'ghcr.io/doitintl/secrets-init:0.3.0',
    'ghcr.io/doitintl/secrets-init:v0.3.9',
    'ghcr.io/doitintl/secrets-init:0.2',
    'ghcr.io/doitintl/secrets-init:0.3.9-rc1',
    'doitintl/secrets-init:0.2.14',
  ]) {
    t.strictSame(initContainerArgs(image, PATH), CP, image);
  }
});

t.test('initContainerArgs: with tag and digest, the tag decides', async (t) => {
  t.strictSame(initContainerArgs(`ghcr.io/doitintl/secrets-init:0.3.2@sha256:${HEX}`, PATH), CP);
  t.strictSame(initContainerArgs(`ghcr.io/doitintl/secrets-init:0.5.3@sha256:${HEX}`, PATH), COPY);
  t.strictSame(initContainerArgs(`registry:5000/secrets-init:0.3.2@sha256:${HEX}`, PATH), CP);
});

t.test('initContainerArgs: the path is passed through', async (t) => {
  t.strictSame(initContainerArgs('secrets-init:0.5.3', '/other/dir'), ['copy', '/other/dir']);
  t.strictSame(initContainerArgs('secrets-init:0.3.0', '/other/dir'), ['cp', '/usr/local/bin/secrets-init', '/other/dir']);
});

t.test('initContainerArgs: an invalid image is an error', async (t) => {
  let thrown: unknown;
  try {
    initContainerArgs('secrets-init:', PATH);
  } catch (error) {
    thrown = error;
  }
  t.ok(thrown instanceof ImageReferenceError);
});

t.test('buildInitContainer', async (t) => {
  const settings = { image: 'registry:5000/secrets-init:0.3.2', pullPolicy: 'Always' as const, volumeName: 'bin-vol', volumePath: '/opt/si' };
  const c = buildInitContainer(settings);
  t.equal(c.name, INIT_CONTAINER_NAME);
  t.equal(c.name, 'copy-secrets-init');
  t.equal(c.image, settings.image);
  t.equal(c.imagePullPolicy, 'Always');
  t.strictSame(c.args, ['cp', '/usr/local/bin/secrets-init', '/opt/si']);
  t.equal(c.command, undefined, 'the image entrypoint runs');
  t.strictSame(c.volumeMounts, [{ name: 'bin-vol', mountPath: '/opt/si' }]);
  t.strictSame(c.resources, { requests: { cpu: '10m', memory: '10Mi' }, limits: { cpu: '10m', memory: '50Mi' } });
  t.match(c.securityContext, {
    runAsNonRoot: true,
    runAsUser: 1000,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  });
  const sc = c.securityContext as { privileged?: boolean; capabilities: { add?: unknown } };
  t.not(sc.privileged, true);
  t.equal(sc.capabilities.add, undefined);

  const current = buildInitContainer({ image: 'ghcr.io/doitintl/secrets-init:0.5.3', pullPolicy: 'IfNotPresent', volumeName: 'v', volumePath: '/helper/bin' });
  t.strictSame(current.args, ['copy', '/helper/bin']);
  t.equal(current.imagePullPolicy, 'IfNotPresent');
});

t.test('buildInitContainer for a Guaranteed pod: requests equal to the limits; each kind built once', async (t) => {
  const settings = { image: 'ghcr.io/doitintl/secrets-init:0.5.3', pullPolicy: 'IfNotPresent' as const, volumeName: 'v', volumePath: '/v' };
  const guaranteed = buildInitContainer(settings, 'guaranteed');
  t.strictSame(guaranteed.resources, { requests: { cpu: '10m', memory: '50Mi' }, limits: { cpu: '10m', memory: '50Mi' } });
  const { resources: _g, ...restGuaranteed } = guaranteed;
  const { resources: _d, ...restDefault } = buildInitContainer(settings);
  t.strictSame(restGuaranteed, restDefault, 'only the resources differ');
  t.equal(buildInitContainer(settings, 'guaranteed'), guaranteed, 'the same object');
  t.equal(buildInitContainer(settings, 'default'), buildInitContainer(settings));
  t.not(buildInitContainer(settings), guaranteed);
  t.equal(sharedJson(guaranteed), JSON.stringify(guaranteed), 'serialised once too');
  t.ok(Object.isFrozen(guaranteed['resources']));
});

t.test('buildVolume and wrapperPath', async (t) => {
  t.strictSame(buildVolume('secrets-init-bin'), { name: 'secrets-init-bin', emptyDir: { medium: 'Memory' } });
  t.equal(wrapperPath('/helper/bin'), '/helper/bin/secrets-init');
});

t.test('buildInitContainer: built once per settings and frozen, since every admission shares it', async (t) => {
  const settings = { image: 'ghcr.io/doitintl/secrets-init:0.5.3', pullPolicy: 'IfNotPresent' as const, volumeName: 'v', volumePath: '/v' };
  const first = buildInitContainer(settings);
  t.equal(buildInitContainer(settings), first, 'the same object');
  t.not(buildInitContainer({ ...settings }), first, 'other settings, another container');
  t.ok(Object.isFrozen(first) && Object.isFrozen(first.volumeMounts) && Object.isFrozen(first['securityContext']), 'frozen all the way down');
  t.throws(() => {
    'use strict';
    (first.volumeMounts as unknown[]).push({});
  }, TypeError);
});

t.test('patchJson: the text JSON.stringify writes, the shared init container serialised once', async (t) => {
  const settings = { image: 'ghcr.io/doitintl/secrets-init:0.5.3', pullPolicy: 'IfNotPresent' as const, volumeName: 'v', volumePath: '/v' };
  const init = buildInitContainer(settings);
  t.equal(sharedJson(init), JSON.stringify(init), 'the remembered text is the object as JSON');
  const ops: Operation[] = [
    { op: 'add', path: '/spec/containers/0/command', value: ['/helper/bin/secrets-init', '--provider=aws', 'say "hi"\n\u2028', '</script>'] },
    { op: 'add', path: '/metadata/annotations/a~1b~0c', value: '{"containers":["app"]}' },
    { op: 'add', path: '/spec/initContainers/0', value: init },
    { op: 'move', from: '/spec/initContainers/2', path: '/spec/initContainers/0' },
    { op: 'add', path: '/spec/initContainers', value: [init] },
    { op: 'add', path: '/spec/volumes', value: [{ name: 'v', emptyDir: { medium: 'Memory' } }] },
    { op: 'add', path: '/spec/initContainers', value: [init, init] },
    // Not made by toJsonPatch, still written as JSON.stringify writes them.
    { op: 'remove', path: '/spec/x' },
    { op: 'replace', path: '/a"b', value: { k: [1, null] } },
    { op: 'add', path: '/no-value', value: undefined },
  ];
  t.equal(patchJson(ops), JSON.stringify(ops));
  t.strictSame(JSON.parse(patchJson(ops)), JSON.parse(JSON.stringify(ops)), 'valid JSON: the operations as JSON.stringify keeps them');
  for (let i = 0; i < ops.length; i++) t.equal(patchJson(ops.slice(i, i + 2)), JSON.stringify(ops.slice(i, i + 2)), `operations ${i} and ${i + 1}`);
  t.equal(patchJson([]), '[]');
  // Only values made by sharedValue have a remembered text: others are serialised as they stand.
  t.equal(sharedJson({ ...init }), undefined);
  t.equal(sharedJson(undefined), undefined);
  t.equal(sharedJson('text'), undefined);
});

t.test('sharedValue: frozen all the way down, so the remembered text cannot go stale', async (t) => {
  const value = sharedValue({ list: [{ deep: { x: 1 } }], name: 'n' });
  t.ok(Object.isFrozen(value) && Object.isFrozen(value.list) && Object.isFrozen(value.list[0]) && Object.isFrozen(value.list[0]?.deep));
  t.throws(() => {
    'use strict';
    (value.list[0] as { deep: { x: number } }).deep.x = 2;
  }, TypeError);
  t.equal(sharedJson(value), '{"list":[{"deep":{"x":1}}],"name":"n"}');
});

t.test('buildVolume: one frozen volume per name, its JSON made once', async (t) => {
  const volume = buildVolume('bin-a');
  t.equal(buildVolume('bin-a'), volume, 'the same object for the same name');
  t.not(buildVolume('bin-b'), volume, 'another name, another volume');
  t.ok(Object.isFrozen(volume) && Object.isFrozen(volume.emptyDir), 'frozen all the way down');
  t.equal(sharedJson(volume), '{"name":"bin-a","emptyDir":{"medium":"Memory"}}');
  t.equal(patchJson([{ op: 'add', path: '/spec/volumes', value: [volume] }]), JSON.stringify([{ op: 'add', path: '/spec/volumes', value: [volume] }]));
});

t.test('buildInitContainer: the user it runs as, by --init-container-user and the pod user', async (t) => {
  const base = { image: 'ghcr.io/doitintl/secrets-init:0.5.3', pullPolicy: 'IfNotPresent' as const, volumeName: 'v', volumePath: '/v' };
  const context = (container: Container) => container['securityContext'] as Record<string, unknown>;
  for (const user of ['root', 'other'] as const) {
    t.match(context(buildInitContainer(base, 'default', user)), { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000 }, `default uid, ${user} pod`);
    t.match(context(buildInitContainer({ ...base, initContainerUser: 1000680000 }, 'default', user)), { runAsNonRoot: true, runAsUser: 1000680000, runAsGroup: 1000680000 }, `a uid of the flag, ${user} pod`);
  }
  const unset = { ...base, initContainerUser: 'unset' as const };
  for (const resources of ['default', 'guaranteed'] as const) {
    const left = context(buildInitContainer(unset, resources));
    t.notOk('runAsUser' in left || 'runAsGroup' in left, `unset: neither runAsUser nor runAsGroup (${resources})`);
    t.equal(left['runAsNonRoot'], true, 'still non-root');
    t.match(context(buildInitContainer(unset, resources, 'root')), { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000 }, `unset in a pod running as root: 1000, which runAsNonRoot accepts (${resources})`);
  }
  t.not(buildInitContainer(unset, 'default', 'root'), buildInitContainer(unset, 'default', 'other'), 'one container per pod user');
  t.equal(buildInitContainer(unset, 'default', 'root'), buildInitContainer(unset, 'default', 'root'), 'each built once');
});

t.test('podUser: root only when the pod securityContext sets runAsUser 0', async (t) => {
  const pod = (securityContext: unknown) => ({ spec: { containers: [], ...(securityContext === undefined ? {} : { securityContext }) } });
  t.equal(podUser(pod({ runAsUser: 0 })), 'root');
  for (const context of [undefined, null, {}, { runAsUser: 1000 }, { runAsUser: '0' }, { runAsNonRoot: false }, 'x']) {
    t.equal(podUser(pod(context)), 'other', JSON.stringify(context) ?? 'none');
  }
});
