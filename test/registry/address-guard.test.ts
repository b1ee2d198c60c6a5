/**
 * Where a pod's image may not send the webhook: loopback, link-local, metadata and
 * unspecified addresses, by literal or by name, unless the operator named the host;
 * and --allowed-registries patterns.
 */
import t from 'tap';
import { refusedAddressKind } from '../../src/registry/address-guard.js';
import { namesHost, parseRegistryPattern, patternMatches } from '../../src/registry/allowed-registries.js';
import { createRegistryClient } from '../../src/registry/client.js';
import { parseImageReference } from '../../src/core/image-reference.js';
import { flushLog, pushImage, startRegistry } from '../helpers/registry.js';

t.test('refusedAddressKind', async (t) => {
  const table: Array<[string, string | undefined]> = [
    ['127.0.0.1', 'loopback'], ['127.255.0.9', 'loopback'], ['::1', 'loopback'], ['[::1]', 'loopback'], ['::ffff:127.0.0.1', 'loopback'],
    ['169.254.169.254', 'cloud metadata'], ['fd00:ec2::254', 'cloud metadata'], ['::ffff:169.254.169.254', 'cloud metadata'],
    ['169.254.1.1', 'link-local'], ['fe80::1', 'link-local'], ['febf::1', 'link-local'],
    ['0.0.0.0', 'unspecified'], ['0.1.2.3', 'unspecified'], ['::', 'unspecified'],
    ['10.0.0.1', undefined], ['8.8.8.8', undefined], ['::ffff:10.0.0.1', undefined], ['2001:db8::1', undefined], ['fd00:ec2::253', undefined],
    ['registry.example.com', undefined],
  ];
  for (const [address, kind] of table) t.equal(refusedAddressKind(address), kind, address);
});

t.test('registry patterns', async (t) => {
  const matches = (pattern: string, host: string) => {
    const parsed = parseRegistryPattern(pattern);
    if (parsed === undefined) throw new Error(`${pattern} does not parse`);
    return patternMatches(parsed, host);
  };
  t.ok(matches('*.dkr.ecr.*.amazonaws.com', '123456789012.dkr.ecr.eu-west-1.amazonaws.com'));
  t.notOk(matches('*.dkr.ecr.*.amazonaws.com', '123456789012.dkr.ecr.eu-west-1.amazonaws.com.evil.example'), 'same number of labels');
  t.notOk(matches('*.dkr.ecr.*.amazonaws.com', '123456789012.dkr.ecr.eu-west-1.amazonaws.com:8443'), 'no port in the pattern: the default port only');
  t.ok(matches('ghcr.io', 'GHCR.io'));
  t.notOk(matches('ghcr.io', 'ghcr.io.example'));
  t.ok(matches('127.0.0.1:*', '127.0.0.1:5000'));
  t.ok(matches('127.0.0.1:*', '127.0.0.1'), '":*" is any port, the default one too');
  t.ok(matches('registry:5000', 'registry:5000'));
  t.notOk(matches('registry:5000', 'registry:5001'));
  t.ok(matches('[::1]:5000', '[::1]:5000'));
  for (const bad of ['', 'a b', 'http://ghcr.io', 'ghcr.io/team', 'host:port', 'a..b', '[::1*]', ':5000']) t.equal(parseRegistryPattern(bad), undefined, JSON.stringify(bad));
  t.equal(namesHost(parseRegistryPattern('127.0.0.1:*')!), true);
  t.equal(namesHost(parseRegistryPattern('*.internal')!), false);
  t.ok(matches(`${'a*'.repeat(30)}z.example.com`, `${'a'.repeat(60)}z.example.com`), 'linear matching (no backtracking) on crafted hosts');
});

t.test('a name that resolves to loopback is refused unless named; --allowed-registries limits the registries', async (t) => {
  const registry = await startRegistry();
  t.teardown(() => registry.close());
  const pushed = await pushImage(registry, 'team/app', 'v1', { cmd: ['x'] });
  const port = registry.host.split(':')[1];
  const byName = parseImageReference(`localhost:${port}/team/app:v1`);
  const options = { timeoutMs: 3_000, skipVerify: false };
  const unnamed = await createRegistryClient({ ...options, insecureRegistries: [], allowedRegistries: ['*:*'] }).resolveTag(byName, []).catch((e: unknown) => e);
  t.match(unnamed, { kind: 'refused' });
  t.match((unnamed as Error).message, /localhost resolves to (127\.0\.0\.1|::1), a loopback address/);
  t.equal(await createRegistryClient({ ...options, insecureRegistries: [`localhost:${port}`] }).resolveTag(byName, []), pushed.manifestDigest, 'named as insecure');
  const elsewhere = await createRegistryClient({ ...options, insecureRegistries: [registry.host], allowedRegistries: ['ghcr.io', '*.internal:*'] })
    .resolveTag(parseImageReference(`${registry.host}/team/app:v1`), [])
    .catch((e: unknown) => e);
  t.match(elsewhere, { kind: 'refused' });
  t.match((elsewhere as Error).message, /the registry is not in --allowed-registries/);
  const reads = (await flushLog(registry)).filter((r) => (r.method === 'HEAD' || r.method === 'GET') && r.path.startsWith('/v2/team/app/manifests/'));
  t.equal(reads.length, 1, 'only the client that names the host reached the registry');
  const metadata = await createRegistryClient({ ...options, insecureRegistries: [] }).resolveTag(parseImageReference('169.254.169.254/latest/meta-data:x'), []).catch((e: unknown) => e);
  t.match((metadata as Error).message, /169\.254\.169\.254 is a cloud metadata address/);
  t.throws(() => createRegistryClient({ ...options, insecureRegistries: [], allowedRegistries: ['http://x'] }), /invalid registry pattern "http:\/\/x"/);
});

t.test('a refused address is not counted as a registry request: none was sent', async (t) => {
  const registry = await startRegistry();
  t.teardown(() => registry.close());
  await pushImage(registry, 'team/app', 'v1', { cmd: ['x'] });
  const port = registry.host.split(':')[1];
  const observed: Array<[string, number | 'error']> = [];
  const client = createRegistryClient({ timeoutMs: 3_000, skipVerify: false, insecureRegistries: [], observeRequest: (what, status) => observed.push([what, status]) });
  t.match(await client.resolveTag(parseImageReference(`localhost:${port}/team/app:v1`), []).catch((e: unknown) => e), { kind: 'refused' }, 'by name');
  t.match(await client.resolveTag(parseImageReference('169.254.169.254/latest/meta-data:x'), []).catch((e: unknown) => e), { kind: 'refused' }, 'by literal address');
  t.same(observed, [], 'registry_requests_total{code="error"} is for requests that got no answer, not for ones the webhook never sent');
  const named = createRegistryClient({ timeoutMs: 3_000, skipVerify: false, insecureRegistries: [`localhost:${port}`], observeRequest: (what, status) => observed.push([what, status]) });
  await named.resolveTag(parseImageReference(`localhost:${port}/team/app:v1`), []);
  t.same(observed, [['manifest', 200]], 'a request sent is counted');
});
