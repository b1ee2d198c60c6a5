/**
 * A registry reached over https that redirects to plain http: the redirect is refused unless
 * the operator listed the target as an insecure registry (a manifest or a tag's digest fetched
 * in the clear could be altered on the way).
 */
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { parseImageReference } from '../../src/core/image-reference.js';
import { createRegistryClient, RegistryError } from '../../src/registry/client.js';
import { makeLoopbackCertificates } from '../helpers/certs.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;

const plainRequests: string[] = [];
const plain = createHttpServer((req, res) => {
  plainRequests.push(`${req.method ?? ''} ${req.url ?? ''}`);
  res.writeHead(200, { 'docker-content-digest': DIGEST, 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
  res.end();
});
await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
const plainHost = `127.0.0.1:${(plain.address() as AddressInfo).port}`;

const certificates = await makeLoopbackCertificates();
const secure = createHttpsServer({ cert: certificates.cert, key: certificates.key }, (req, res) => {
  res.writeHead(307, { location: `http://${plainHost}${req.url ?? '/'}` });
  res.end();
});
await new Promise<void>((resolve) => secure.listen(0, '127.0.0.1', resolve));
const secureHost = `127.0.0.1:${(secure.address() as AddressInfo).port}`;
t.teardown(() => {
  plain.close();
  secure.close();
});

const image = parseImageReference(`${secureHost}/team/app:v1`);
const options = { timeoutMs: 5_000, ca: certificates.caCert, skipVerify: false, allowedRegistries: [secureHost] };

t.test('a redirect from https to plain http is refused, and the plain-http host is not contacted', async (t) => {
  plainRequests.length = 0;
  // The plain-http host is named too (loopback), so that only the downgrade rule can refuse it.
  const client = createRegistryClient({ ...options, allowedRegistries: [secureHost, plainHost], insecureRegistries: [] });
  const err = await client.resolveTag(image, []).catch((e: unknown) => e);
  t.type(err, RegistryError);
  t.match(err, { kind: 'http' });
  t.match((err as Error).message, new RegExp(`refusing redirect from https to plain http \\(${plainHost.replace(/\./g, '\\.')}\\) fetching the manifest`));
  t.same(plainRequests, []);
});

t.test('a redirect to a host listed in --insecure-registries is followed', async (t) => {
  plainRequests.length = 0;
  const client = createRegistryClient({ ...options, insecureRegistries: [plainHost] });
  t.equal(await client.resolveTag(image, []), DIGEST);
  t.same(plainRequests, ['HEAD /v2/team/app/manifests/v1']);
});
