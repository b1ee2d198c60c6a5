/**
 * The client's pure parts: WWW-Authenticate parsing, manifest/config parsing, platform choice.
 */
import t from 'tap';
import { parseChallenges } from '../../src/registry/challenge.js';
import { apiHost } from '../../src/registry/client.js';
import { RegistryFailure } from '../../src/registry/errors.js';
import { parseImageConfig, parseManifest, selectPlatform, unlabelledEntries, MANIFEST_ACCEPT, type Descriptor } from '../../src/registry/manifest.js';

const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
const D = (n: number): string => `sha256:${String(n).repeat(64).slice(0, 64)}`;

t.test('WWW-Authenticate challenges', async (t) => {
  t.same(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"'), [
    { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/nginx:pull' } },
  ]);
  t.same(parseChallenges('Basic realm="Registry Realm"'), [{ scheme: 'basic', params: { realm: 'Registry Realm' } }]);
  t.same(parseChallenges('Basic realm="a, b", Bearer realm="https://x/t", error="insufficient_scope"'), [
    { scheme: 'basic', params: { realm: 'a, b' } },
    { scheme: 'bearer', params: { realm: 'https://x/t', error: 'insufficient_scope' } },
  ]);
  t.same(parseChallenges(['Basic realm=plain', 'BEARER Realm="q\\"uoted"']), [
    { scheme: 'basic', params: { realm: 'plain' } },
    { scheme: 'bearer', params: { realm: 'q"uoted' } },
  ]);
  t.same(parseChallenges(undefined), []);
  t.same(parseChallenges(''), []);
  t.same(parseChallenges('=broken'), []);
});

t.test('Docker Hub is reached at registry-1.docker.io', async (t) => {
  t.equal(apiHost('docker.io'), 'registry-1.docker.io');
  t.equal(apiHost('ghcr.io'), 'ghcr.io');
  t.equal(apiHost('reg:5000'), 'reg:5000');
});

t.test('Accept lists the four manifest media types', async (t) => {
  for (const type of [
    'application/vnd.oci.image.index.v1+json',
    'application/vnd.oci.image.manifest.v1+json',
    'application/vnd.docker.distribution.manifest.list.v2+json',
    'application/vnd.docker.distribution.manifest.v2+json',
  ]) {
    t.ok(MANIFEST_ACCEPT.split(', ').includes(type), type);
  }
});

t.test('manifests', async (t) => {
  const config = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: D(1), size: 10 };
  t.match(parseManifest(json({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers: [] }), undefined), {
    kind: 'image',
    config,
  });
  t.match(parseManifest(json({ schemaVersion: 2, config, layers: [] }), 'application/vnd.oci.image.manifest.v1+json; charset=utf-8'), { kind: 'image' }, 'type from Content-Type');
  t.match(parseManifest(json({ schemaVersion: 2, manifests: [] }), undefined), { kind: 'index', manifests: [] }, 'an OCI index without mediaType');
  const failure = (body: Buffer, contentType?: string): unknown => {
    try {
      parseManifest(body, contentType);
      return undefined;
    } catch (err) {
      return err;
    }
  };
  t.match(failure(json({ schemaVersion: 1, name: 'x', fsLayers: [] })), { kind: 'unsupported', message: /schema 1/ });
  t.match(failure(json({ schemaVersion: 2, mediaType: 'application/vnd.example+json' })), { kind: 'unsupported' });
  t.match(failure(json({ schemaVersion: 2, config: { ...config, mediaType: 'application/vnd.cncf.helm.config.v1+json' } })), {
    kind: 'unsupported',
    message: /not a container image/,
  });
  t.match(failure(json({ schemaVersion: 2, config: { digest: D(1) } })), { kind: 'invalid' });
  t.match(failure(json([1, 2])), { kind: 'invalid', message: /not a JSON object/ });
  t.match(failure(Buffer.from('{"schemaVersion": 2,')), { kind: 'invalid', message: /not valid JSON/ });
  t.type(failure(Buffer.from('nope')), RegistryFailure);
});

t.test('image configs', async (t) => {
  t.same(parseImageConfig(json({ config: { Entrypoint: ['/a'], Cmd: ['b', 'c'] } })), { entrypoint: ['/a'], cmd: ['b', 'c'] });
  t.same(parseImageConfig(json({ config: { Entrypoint: null, Cmd: null } })), { entrypoint: [], cmd: [] });
  t.same(parseImageConfig(json({ architecture: 'amd64' })), { entrypoint: [], cmd: [] }, 'no config section');
  t.same(parseImageConfig(json({ config: null })), { entrypoint: [], cmd: [] });
  t.throws(() => parseImageConfig(json({ config: { Cmd: 'sh -c x' } })), { kind: 'invalid', message: /Cmd is not a list of strings/ });
  t.throws(() => parseImageConfig(json({ config: { Entrypoint: [1] } })), { kind: 'invalid', message: /Entrypoint/ });
  t.throws(() => parseImageConfig(json({ config: [] })), { kind: 'invalid', message: /invalid "config" section/ });
});

t.test('image configs: Entrypoint and Cmd are bounded together (64 Ki characters, 4096 words)', async (t) => {
  const half = 'x'.repeat(32 * 1024);
  t.same(parseImageConfig(json({ config: { Entrypoint: [half], Cmd: [half] } })), { entrypoint: [half], cmd: [half] }, '65536 characters');
  t.throws(() => parseImageConfig(json({ config: { Entrypoint: [half], Cmd: [half, 'y'] } })), {
    kind: 'invalid',
    message: "the image config's Entrypoint and Cmd hold 65537 characters, more than the 65536 accepted",
  });
  const words = (n: number): string[] => Array.from({ length: n }, () => 'w');
  t.same(parseImageConfig(json({ config: { Entrypoint: words(96), Cmd: words(4000) } })).cmd.length, 4000, '4096 words');
  t.throws(() => parseImageConfig(json({ config: { Entrypoint: words(97), Cmd: words(4000) } })), {
    kind: 'invalid',
    message: "the image config's Entrypoint and Cmd hold 4097 words, more than the 4096 accepted",
  });
  t.throws(() => parseImageConfig(json({ config: { Cmd: ['', ...words(5000).map(() => '')] } })), { kind: 'invalid', message: /5001 words/ }, 'empty words count too');
});

t.test('index entries without a platform: image manifests only, and at most four looked into', async (t) => {
  const unlabelled = (n: number, mediaType = 'application/vnd.oci.image.manifest.v1+json'): Descriptor => ({ mediaType, digest: D(n), size: 100 });
  const labelled: Descriptor = { ...unlabelled(1), platform: { os: 'linux', architecture: 'amd64' } };
  const index = [labelled, unlabelled(2, 'application/vnd.oci.image.index.v1+json'), ...Array.from({ length: 20 }, (_, i) => unlabelled(i + 3))];
  t.strictSame(unlabelledEntries(index).map((d) => d.digest), [D(3), D(4), D(5), D(6)], 'a registry listing thousands costs no more than four');
});

t.test('platform choice', async (t) => {
  const M = 'application/vnd.oci.image.manifest.v1+json';
  const entry = (n: number, architecture: string, variant?: string, os = 'linux'): Descriptor => ({
    mediaType: M,
    digest: D(n),
    size: 100,
    platform: variant !== undefined ? { os, architecture, variant } : { os, architecture },
  });
  const index = [entry(1, 'amd64'), entry(2, 'arm', 'v6'), entry(3, 'arm', 'v7'), entry(4, 'arm64', 'v8'), entry(5, 'amd64', undefined, 'windows')];
  const pick = (architecture: string, variant?: string): string =>
    selectPlatform(index, variant !== undefined ? { os: 'linux', architecture, variant } : { os: 'linux', architecture }).digest;
  t.equal(pick('amd64'), D(1));
  t.equal(pick('arm64'), D(4), 'arm64 means arm64/v8');
  t.equal(pick('arm64', 'v8'), D(4));
  t.equal(pick('arm', 'v7'), D(3));
  t.equal(pick('arm', 'v6'), D(2));
  t.equal(pick('arm'), D(2), 'no variant asked: the first of the architecture');
  t.equal(selectPlatform(index, { os: 'windows', architecture: 'amd64' }).digest, D(5));
  t.throws(() => pick('arm', 'v5'), { kind: 'platform', message: /available: linux\/amd64, linux\/arm\/v6, linux\/arm\/v7, linux\/arm64\/v8, windows\/amd64$/ });

  t.equal(selectPlatform([entry(6, 'arm64')], { os: 'linux', architecture: 'arm64', variant: 'v8' }).digest, D(6), 'a missing variant in the index matches');
  t.equal(
    selectPlatform([entry(7, 'amd64', 'v3'), entry(8, 'amd64')], { os: 'linux', architecture: 'amd64' }).digest,
    D(8),
    'an entry without a variant beats one with a variant nobody asked for',
  );
  t.equal(
    selectPlatform([entry(9, 'arm'), entry(10, 'arm', 'v7')], { os: 'linux', architecture: 'arm', variant: 'v7' }).digest,
    D(10),
    'the exact variant beats a missing one',
  );

  const attestation: Descriptor = {
    mediaType: M,
    digest: D(11),
    size: 100,
    platform: { os: 'unknown', architecture: 'unknown' },
    annotations: { 'vnd.docker.reference.type': 'attestation-manifest' },
  };
  t.throws(() => selectPlatform([entry(1, 'amd64'), attestation], { os: 'linux', architecture: 's390x' }), {
    message: /available: linux\/amd64$/,
  }, 'attestation manifests are not listed');
  t.throws(() => selectPlatform([], { os: 'linux', architecture: 'amd64' }), { message: /available: none$/ });
});
