/**
 * A REAL registry over TLS with a certificate from a private (test) CA.
 */
import t from 'tap';
import { parseImageReference } from '../../src/core/image-reference.js';
import { createRegistryClient, RegistryError } from '../../src/registry/client.js';
import { pushImage, startRegistry } from '../helpers/registry.js';

const registry = await startRegistry({ tls: true, htpasswd: [{ username: 'dave', password: 'dave-pw-42c0ffee' }] });
t.teardown(() => registry.close());
const caPem = registry.caPem;
if (caPem === undefined) throw new Error('TLS registry without a CA');
const pushed = await pushImage(registry, 'secure/app', 'v1', { entrypoint: ['/secure'], cmd: ['--tls'] });
const ref = parseImageReference(`${registry.host}/secure/app:v1`);
const dave = { id: 'Secret ns/dave', username: 'dave', password: 'dave-pw-42c0ffee' };
const linux = { os: 'linux', architecture: 'amd64' };

t.test('the test CA given as `ca`: ok (and Basic auth over TLS)', async (t) => {
  const client = createRegistryClient({ timeoutMs: 5_000, ca: caPem, skipVerify: false, insecureRegistries: [], allowedRegistries: [registry.host] });
  const digest = await client.resolveTag(ref, [dave]);
  t.equal(digest, pushed.manifestDigest);
  t.same(await client.imageConfig(ref, digest, linux, [dave]), { manifestDigest: digest, entrypoint: ['/secure'], cmd: ['--tls'] });
});

t.test('without the CA: a certificate error', async (t) => {
  const client = createRegistryClient({ timeoutMs: 5_000, skipVerify: false, insecureRegistries: [], allowedRegistries: [registry.host] });
  const err = await client.resolveTag(ref, [dave]).catch((e: unknown) => e);
  t.type(err, RegistryError);
  t.match(err, { kind: 'tls', registry: registry.host, transient: false });
  t.match((err as Error).message, new RegExp(`^cannot read image "${registry.host}/secure/app:v1" from registry ${registry.host}: TLS certificate verification failed`));
  t.match((err as Error).message, /certificate/);
  t.notOk((err as Error).message.includes('dave-pw-42c0ffee'), 'no password in the message');
});

t.test('another CA does not help', async (t) => {
  const { generateCertificates } = await import('../../src/tls/generate.js');
  const other = await generateCertificates({ service: 'other', namespace: 'default', hosts: ['127.0.0.1'], days: 1, keyType: 'ec' });
  const client = createRegistryClient({ timeoutMs: 5_000, ca: other.caCert, skipVerify: false, insecureRegistries: [], allowedRegistries: [registry.host] });
  const err = await client.resolveTag(ref, [dave]).catch((e: unknown) => e);
  t.match(err, { kind: 'tls' });
});

t.test('skipVerify: ok without the CA', async (t) => {
  const client = createRegistryClient({ timeoutMs: 5_000, skipVerify: true, insecureRegistries: [], allowedRegistries: [registry.host] });
  t.equal(await client.resolveTag(ref, [dave]), pushed.manifestDigest);
});

t.test('a registry on a loopback address that the operator did not name is not contacted', async (t) => {
  const client = createRegistryClient({ timeoutMs: 5_000, ca: caPem, skipVerify: false, insecureRegistries: [] });
  const err = await client.resolveTag(ref, [dave]).catch((e: unknown) => e);
  t.match(err, { kind: 'refused', transient: false });
  t.match((err as Error).message, /127\.0\.0\.1:\d+ is a loopback address, which a pod's image may not make the webhook contact \(fetching the manifest\)/);
  const wildcard = createRegistryClient({ timeoutMs: 5_000, ca: caPem, skipVerify: false, insecureRegistries: [], allowedRegistries: ['127.0.0.*:*'] });
  t.match(await wildcard.resolveTag(ref, [dave]).catch((e: unknown) => e), { kind: 'refused' }, 'a pattern with "*" in its host does not name it');
});

t.test('an invalid CA bundle is a configuration error', async (t) => {
  t.throws(() => createRegistryClient({ timeoutMs: 1_000, ca: 'not a certificate', skipVerify: false, insecureRegistries: [] }), {
    message: /contains no PEM certificate/,
  });
  t.throws(
    () =>
      createRegistryClient({
        timeoutMs: 1_000,
        ca: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
        skipVerify: false,
        insecureRegistries: [],
      }),
    { message: /does not parse/ },
  );
  t.throws(() => createRegistryClient({ timeoutMs: 0, skipVerify: false, insecureRegistries: [] }), RangeError);
  t.throws(() => createRegistryClient({ timeoutMs: 100, maxBytes: -1, skipVerify: false, insecureRegistries: [] }), RangeError);
});
