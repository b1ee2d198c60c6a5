/**
 * The registry client against a REAL registry (docker-registry, plain http, no auth):
 * media types, indexes and platform choice, digest references, tag resolution.
 */
import t from 'tap';
import { parseImageReference } from '../../src/core/image-reference.js';
import { createRegistryClient, RegistryError } from '../../src/registry/client.js';
import { pushImage, pushIndex, startRegistry } from '../helpers/registry.js';

const registry = await startRegistry();
t.teardown(() => registry.close());

const client = createRegistryClient({ timeoutMs: 5_000, skipVerify: false, insecureRegistries: [registry.host] });
const image = (name: string) => parseImageReference(`${registry.host}/${name}`);
const linux = (architecture: string, variant?: string) => (variant !== undefined ? { os: 'linux', architecture, variant } : { os: 'linux', architecture });

t.test('single-platform image, OCI media types', async (t) => {
  const pushed = await pushImage(registry, 'team/oci-app', 'v1', { entrypoint: ['/bin/app'], cmd: ['--serve', 'all'] }, { mediaType: 'oci' });
  const ref = image('team/oci-app:v1');
  const digest = await client.resolveTag(ref, []);
  t.equal(digest, pushed.manifestDigest, 'the tag resolves to the pushed manifest');
  const config = await client.imageConfig(ref, digest, linux('amd64'), []);
  t.same(config, { manifestDigest: pushed.manifestDigest, entrypoint: ['/bin/app'], cmd: ['--serve', 'all'] });
});

t.test('single-platform image, Docker schema 2 media types', async (t) => {
  const pushed = await pushImage(registry, 'docker-app', 'latest', { entrypoint: ['/docker-entrypoint.sh'], cmd: ['nginx', '-g', 'daemon off;'] }, { mediaType: 'docker' });
  const ref = image('docker-app');
  const digest = await client.resolveTag(ref, []);
  t.equal(digest, pushed.manifestDigest, 'no tag means latest');
  const config = await client.imageConfig(ref, digest, linux('amd64'), []);
  t.same(config, { manifestDigest: pushed.manifestDigest, entrypoint: ['/docker-entrypoint.sh'], cmd: ['nginx', '-g', 'daemon off;'] });
});

t.test('an image without Entrypoint or Cmd gives empty lists', async (t) => {
  const pushed = await pushImage(registry, 'bare', 'v1', {});
  const config = await client.imageConfig(image('bare:v1'), pushed.manifestDigest, linux('amd64'), []);
  t.same(config, { manifestDigest: pushed.manifestDigest, entrypoint: [], cmd: [] });
});

for (const mediaType of ['oci', 'docker'] as const) {
  t.test(`${mediaType === 'oci' ? 'OCI index' : 'Docker manifest list'}: the platform picks the Cmd`, async (t) => {
    const repo = `multi-${mediaType}`;
    const pushed = await pushIndex(
      registry,
      repo,
      'v2',
      [
        { config: { entrypoint: ['/entry'], cmd: ['amd64-cmd'] }, platform: linux('amd64') },
        { config: { entrypoint: ['/entry'], cmd: ['arm64-cmd'] }, platform: linux('arm64', 'v8') },
        { config: { entrypoint: ['/entry'], cmd: ['armv7-cmd'] }, platform: linux('arm', 'v7') },
      ],
      { mediaType },
    );
    const ref = image(`${repo}:v2`);
    const digest = await client.resolveTag(ref, []);
    t.equal(digest, pushed.indexDigest, 'the tag resolves to the index');

    const amd64 = await client.imageConfig(ref, digest, linux('amd64'), []);
    t.same(amd64, { manifestDigest: pushed.indexDigest, entrypoint: ['/entry'], cmd: ['amd64-cmd'] });
    const arm64 = await client.imageConfig(ref, digest, linux('arm64'), []);
    t.same(arm64.cmd, ['arm64-cmd'], 'arm64 without a variant means v8');
    t.equal(arm64.manifestDigest, pushed.indexDigest, 'manifestDigest is the index, not the platform manifest');
    t.same((await client.imageConfig(ref, digest, linux('arm64', 'v8'), [])).cmd, ['arm64-cmd']);
    t.same((await client.imageConfig(ref, digest, linux('arm', 'v7'), [])).cmd, ['armv7-cmd']);

    const err = await client.imageConfig(ref, digest, linux('ppc64le'), []).catch((e: unknown) => e);
    t.type(err, RegistryError);
    if (!(err instanceof RegistryError)) return;
    t.equal(err.kind, 'platform');
    t.match(err.message, `cannot read image "${registry.host}/${repo}:v2" from registry ${registry.host}`);
    t.match(err.message, /no image for platform linux\/ppc64le/);
    t.match(err.message, /available: linux\/amd64, linux\/arm64\/v8, linux\/arm\/v7/, 'lists the available platforms');

    const armv6 = await client.imageConfig(ref, digest, linux('arm', 'v6'), []).catch((e: unknown) => e);
    t.match(armv6, { kind: 'platform' }, 'a different variant does not match');
  });
}

t.test('an index entry without a variant matches arm64/v8', async (t) => {
  const pushed = await pushIndex(registry, 'novariant', 'v1', [
    { config: { cmd: ['amd'] }, platform: linux('amd64') },
    { config: { cmd: ['arm'] }, platform: linux('arm64') },
  ]);
  const config = await client.imageConfig(image('novariant:v1'), pushed.indexDigest, linux('arm64', 'v8'), []);
  t.same(config.cmd, ['arm']);
});

t.test('index entries without a platform (it is optional): the platform of their config decides, as containerd does', async (t) => {
  const pushed = await pushIndex(registry, 'unlabelled', 'v1', [
    { config: { cmd: ['arm'] }, platform: linux('arm64'), unlabelled: true },
    { config: { cmd: ['amd'] }, platform: linux('amd64'), unlabelled: true },
  ]);
  const ref = image('unlabelled:v1');
  t.same((await client.imageConfig(ref, pushed.indexDigest, linux('amd64'), [])).cmd, ['amd']);
  t.same((await client.imageConfig(ref, pushed.indexDigest, linux('arm64'), [])).cmd, ['arm']);
  const err = await client.imageConfig(ref, pushed.indexDigest, linux('s390x'), []).catch((e: unknown) => e);
  t.match(err, { kind: 'platform', message: /no image for platform linux\/s390x/ });

  const mixed = await pushIndex(registry, 'unlabelled', 'v2', [
    { config: { cmd: ['other-amd'] }, platform: linux('amd64'), unlabelled: true },
    { config: { cmd: ['labelled-amd'] }, platform: linux('amd64') },
  ]);
  t.same((await client.imageConfig(ref, mixed.indexDigest, linux('amd64'), [])).cmd, ['labelled-amd'], 'a labelled entry comes first');
});

t.test('a digest reference is used as-is', async (t) => {
  const pushed = await pushImage(registry, 'pinned', 'v1', { cmd: ['pinned'] });
  const ref = image(`pinned@${pushed.manifestDigest}`);
  const before = await registry.settled();
  t.equal(await client.resolveTag(ref, []), pushed.manifestDigest);
  const config = await client.imageConfig(ref, pushed.manifestDigest, linux('amd64'), []);
  t.same(config.cmd, ['pinned']);
  await registry.waitForRequests(before + 2);
  await new Promise((resolve) => setTimeout(resolve, 100));
  const paths = registry.requests().slice(before).map((r) => `${r.method} ${r.path}`);
  t.equal(paths.length, 2, `two requests: the manifest and the config blob (${paths.join('; ')})`);
  t.notOk(
    paths.some((p) => p.includes('/manifests/v1')),
    'the tag is never looked up',
  );
  t.ok(paths.includes(`GET /v2/pinned/manifests/${pushed.manifestDigest}`), 'the manifest is fetched by digest');

  const both = image(`pinned:v1@${pushed.manifestDigest}`);
  t.equal(await client.resolveTag(both, []), pushed.manifestDigest, 'tag@digest: the digest wins');
});

t.test('resolveTag follows the tag when it is pushed again', async (t) => {
  const first = await pushImage(registry, 'moving', 'latest', { cmd: ['one'] });
  const ref = image('moving:latest');
  const before = await registry.settled();
  t.equal(await client.resolveTag(ref, []), first.manifestDigest);
  const logged = await registry.waitForRequests(before + 1);
  t.same(
    logged.slice(before).map((r) => r.method),
    ['HEAD'],
    'a HEAD request is enough (Docker-Content-Digest)',
  );
  const second = await pushImage(registry, 'moving', 'latest', { cmd: ['two'] });
  t.not(second.manifestDigest, first.manifestDigest);
  const now = await client.resolveTag(ref, []);
  t.equal(now, second.manifestDigest, 'the new digest');
  t.same((await client.imageConfig(ref, now, linux('amd64'), [])).cmd, ['two']);
  t.same((await client.imageConfig(ref, first.manifestDigest, linux('amd64'), [])).cmd, ['one'], 'the old digest still reads the old config');
});

t.test('unknown tag, repository and digest: 404 errors', async (t) => {
  const missingTag = await client.resolveTag(image('moving:nope'), []).catch((e: unknown) => e);
  t.type(missingTag, RegistryError);
  t.match(missingTag, { kind: 'not-found', status: 404, registry: registry.host, image: `${registry.host}/moving:nope` });
  t.match((missingTag as Error).message, /manifest unknown \(HTTP 404\)/);

  const digest = `sha256:${'0'.repeat(64)}`;
  const missingDigest = await client.imageConfig(image('moving:latest'), digest, linux('amd64'), []).catch((e: unknown) => e);
  t.match(missingDigest, { kind: 'not-found', status: 404 });
  t.match((missingDigest as Error).message, /manifest unknown/);

  const noRepo = await client.resolveTag(image('no/such/repo:v1'), []).catch((e: unknown) => e);
  t.match(noRepo, { kind: 'not-found', status: 404 });
});

t.test('an invalid digest argument is rejected before any request', async (t) => {
  const err = await client.imageConfig(image('moving:latest'), 'sha256:xyz', linux('amd64'), []).catch((e: unknown) => e);
  t.match(err, { kind: 'invalid' });
  const md5 = await client.imageConfig(image('moving:latest'), `md5:${'a'.repeat(32)}`, linux('amd64'), []).catch((e: unknown) => e);
  t.match(md5, { kind: 'unsupported' });
});

t.test('plain http only for hosts listed as insecure', async (t) => {
  const pushed = await pushImage(registry, 'plain', 'v1', { cmd: ['x'] });
  // Named as allowed (a loopback address needs that), but not as insecure.
  const strict = createRegistryClient({ timeoutMs: 3_000, skipVerify: false, insecureRegistries: [], allowedRegistries: [registry.host] });
  const err = await strict.resolveTag(image('plain:v1'), []).catch((e: unknown) => e);
  t.type(err, RegistryError);
  t.match(err, { kind: 'tls' });
  t.match((err as Error).message, /TLS handshake with 127\.0\.0\.1:\d+ failed/);
  t.match((err as Error).message, /insecure registry/, 'hints at the insecure registries setting');
  const listed = createRegistryClient({ timeoutMs: 3_000, skipVerify: false, insecureRegistries: ['other:5000', registry.host.toUpperCase()] });
  t.equal(await listed.resolveTag(image('plain:v1'), []), pushed.manifestDigest);
});

t.test('connection refused', async (t) => {
  const closed = await startRegistry();
  const host = closed.host;
  await closed.close();
  const c = createRegistryClient({ timeoutMs: 3_000, skipVerify: false, insecureRegistries: [host] });
  const err = await c.resolveTag(parseImageReference(`${host}/app:v1`), []).catch((e: unknown) => e);
  t.match(err, { kind: 'network', registry: host, transient: true });
  t.match((err as Error).message, new RegExp(`cannot read image "${host}/app:v1" from registry ${host}: connection refused`));
});
