import t from 'tap';
import { INIT_CONTAINER_NAME, buildInitContainer, buildVolume, initContainerArgs } from '../../src/core/init-container.js';
import { wrapperPath } from '../../src/core/wrapping.js';
import { ImageReferenceError } from '../../src/core/image-reference.js';

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
