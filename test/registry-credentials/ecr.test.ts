// The ECR provider through @aws-sdk/client-ecr against a loopback fake that verifies SigV4.
// Static test credentials come from env vars set for this test process only.
import t from 'tap';
import type { Test } from 'tap';
import {
  ECR_PROVIDER_NAME,
  ecrCredentialProvider,
  parseEcrRegistry,
} from '../../src/registry/credentials.js';
import type { EcrCredentialProviderOptions } from '../../src/registry/credentials.js';
import {
  TEST_ACCESS_KEY_ID,
  TEST_SECRET_ACCESS_KEY,
  TEST_SESSION_TOKEN,
  closedPort,
  manualClock,
  rejection,
  startFakeEcr,
} from './fixtures/fakes.js';
import type { FakeEcr } from './fixtures/fakes.js';

// Hermetic AWS environment: static env credentials, no shared files, no instance metadata.
const ENV: Record<string, string> = {
  AWS_ACCESS_KEY_ID: TEST_ACCESS_KEY_ID,
  AWS_SECRET_ACCESS_KEY: TEST_SECRET_ACCESS_KEY,
  AWS_SESSION_TOKEN: TEST_SESSION_TOKEN,
  AWS_EC2_METADATA_DISABLED: 'true',
  AWS_CONFIG_FILE: '/nonexistent/aws-config',
  AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
};
const saved = new Map<string, string | undefined>();
for (const name of [...Object.keys(ENV), 'AWS_PROFILE', 'AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_WEB_IDENTITY_TOKEN_FILE', 'AWS_ROLE_ARN', 'AWS_CONTAINER_CREDENTIALS_FULL_URI', 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI']) {
  saved.set(name, process.env[name]);
  delete process.env[name];
}
Object.assign(process.env, ENV);
t.teardown(() => {
  for (const [name, value] of saved) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

const DOMAIN = '123456789012.dkr.ecr.us-east-1.amazonaws.com';

async function fakeEcr(t: Test): Promise<FakeEcr> {
  const fake = await startFakeEcr();
  t.teardown(() => fake.close());
  return fake;
}

function provider(fake: FakeEcr, extra: EcrCredentialProviderOptions = {}): ReturnType<typeof ecrCredentialProvider> {
  return ecrCredentialProvider({ endpoint: fake.url, timeoutMs: 3000, maxAttempts: 1, ...extra });
}

t.test('parseEcrRegistry / matches: ECR hosts only', async (t) => {
  t.same(parseEcrRegistry(DOMAIN), { account: '123456789012', region: 'us-east-1', fips: false });
  t.same(parseEcrRegistry('123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn'), {
    account: '123456789012',
    region: 'cn-north-1',
    fips: false,
  });
  t.same(parseEcrRegistry('123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com'), {
    account: '123456789012',
    region: 'us-gov-west-1',
    fips: true,
  });
  const ecr = ecrCredentialProvider({ endpoint: 'http://127.0.0.1:1' });
  t.ok(ecr.matches(DOMAIN));
  t.ok(ecr.matches(DOMAIN.toUpperCase()));
  for (const other of [
    'docker.io',
    'public.ecr.aws',
    `${DOMAIN}:443`,
    '12345678901.dkr.ecr.us-east-1.amazonaws.com',
    '123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example',
    'evil.example/123456789012.dkr.ecr.us-east-1.amazonaws.com',
    '123456789012.dkr.ecr..amazonaws.com',
  ]) {
    t.notOk(ecr.matches(other), `not ${other}`);
  }
  t.equal(await ecr.credential('docker.io'), undefined, 'no credential for other registries, and no request');
});

t.test('GetAuthorizationToken: SigV4-signed request, AWS + token, id "ECR"', async (t) => {
  const fake = await fakeEcr(t);
  const credential = await provider(fake).credential(DOMAIN);
  t.same(credential, { id: ECR_PROVIDER_NAME, username: 'AWS', password: fake.password(1) });
  t.equal(fake.calls.length, 1);
  const call = fake.calls[0];
  if (call === undefined) return;
  t.equal(call.target, 'AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken');
  t.equal(call.accessKeyId, TEST_ACCESS_KEY_ID);
  t.equal(call.region, 'us-east-1', 'signed for the registry region');
  t.equal(call.service, 'ecr');
  t.ok(call.signatureValid, 'signature verifies with the test secret key');
  for (const header of ['host', 'x-amz-date', 'x-amz-target', 'x-amz-security-token']) {
    t.ok(call.signedHeaders.includes(header), `${header} is signed`);
  }
  t.equal(call.sessionToken, TEST_SESSION_TOKEN);
  t.match(call.contentType, /^application\/x-amz-json-1\.1/);
  t.same(JSON.parse(call.body), {});
  t.notOk(credential?.id.includes(fake.password(1)));
});

t.test('the token is cached: a second call makes no request', async (t) => {
  const fake = await fakeEcr(t);
  const ecr = provider(fake);
  const first = await ecr.credential(DOMAIN);
  const second = await ecr.credential('999999999999.dkr.ecr.us-east-1.amazonaws.com');
  t.equal(first?.password, fake.password(1));
  t.equal(second?.password, fake.password(1), 'one token per region, whatever the account');
  t.equal(fake.calls.length, 1);
  const concurrent = await Promise.all([1, 2, 3].map(() => ecr.credential('111111111111.dkr.ecr.eu-west-1.amazonaws.com')));
  t.same(new Set(concurrent.map((c) => c?.password)), new Set([fake.password(2)]));
  t.equal(fake.calls.length, 2, 'concurrent requests for a new region share one fetch');
  t.equal(fake.calls[1]?.region, 'eu-west-1');
});

t.test('an expired token is refreshed (expiry minus margin)', async (t) => {
  const fake = await fakeEcr(t);
  fake.lifetimeSeconds = 3600;
  const clock = manualClock();
  const ecr = provider(fake, { now: clock.now, refreshMarginMs: 5 * 60_000 });
  t.equal((await ecr.credential(DOMAIN))?.password, fake.password(1));
  clock.advance(54 * 60_000);
  t.equal((await ecr.credential(DOMAIN))?.password, fake.password(1), 'still valid 6 min before expiry');
  t.equal(fake.calls.length, 1);
  clock.advance(2 * 60_000);
  t.equal((await ecr.credential(DOMAIN))?.password, fake.password(2), 'refreshed inside the margin');
  t.equal(fake.calls.length, 2);
});

t.test('access denied: CloudCredentialError naming ECR and the region; failure backoff', async (t) => {
  const fake = await fakeEcr(t);
  fake.mode = 'deny';
  const clock = manualClock();
  const ecr = provider(fake, { now: clock.now, failureBackoffMs: 10_000 });
  const error = await rejection(t, ecr.credential(DOMAIN));
  t.match(error.message, /^ECR: GetAuthorizationToken failed for region us-east-1: AccessDeniedException \(HTTP 400\): User: .* is not authorized/);
  t.equal(error.provider, ECR_PROVIDER_NAME);
  t.notOk(error.message.includes(TEST_SECRET_ACCESS_KEY));
  t.notOk(error.message.includes(TEST_SESSION_TOKEN));
  await rejection(t, ecr.credential(DOMAIN));
  t.equal(fake.calls.length, 1, 'within the backoff: no new request');
  fake.mode = 'ok';
  clock.advance(10_001);
  t.equal((await ecr.credential(DOMAIN))?.password, fake.password(1), 'retried after the backoff');
  t.equal(fake.calls.length, 2);
});

t.test('a response without a token is an error', async (t) => {
  const fake = await fakeEcr(t);
  fake.mode = 'no-data';
  const error = await rejection(t, provider(fake).credential(DOMAIN));
  t.equal(error.message, 'ECR: GetAuthorizationToken for region us-east-1 returned no usable authorization token');
});

t.test('endpoint down: CloudCredentialError, nothing thrown synchronously', async (t) => {
  const port = await closedPort();
  const ecr = ecrCredentialProvider({ endpoint: `http://127.0.0.1:${port}`, timeoutMs: 3000, maxAttempts: 1 });
  const error = await rejection(t, ecr.credential(DOMAIN));
  t.match(error.message, /^ECR: GetAuthorizationToken failed for region us-east-1: .*ECONNREFUSED/);
});

t.test('an endpoint that never answers: bounded by timeoutMs', async (t) => {
  const fake = await fakeEcr(t);
  fake.mode = 'hang';
  const started = Date.now();
  const error = await rejection(t, provider(fake, { timeoutMs: 300 }).credential(DOMAIN));
  t.equal(error.message, 'ECR: GetAuthorizationToken for region us-east-1 timed out after 300ms');
  t.ok(Date.now() - started < 3000, 'gave up quickly');
});

t.test('an error that quotes the request: neither the session token nor the secret key is shown', async (t) => {
  const fake = await fakeEcr(t);
  fake.mode = 'echo';
  const error = await rejection(t, provider(fake).credential(DOMAIN));
  t.match(error.message, /^ECR: GetAuthorizationToken failed for region us-east-1: UnrecognizedClientException \(HTTP 400\): The security token \[redacted\] sent with /);
  t.notOk(error.message.includes(TEST_SESSION_TOKEN), `no session token in: ${error.message}`);
  t.notOk(error.message.includes(TEST_SECRET_ACCESS_KEY));
  t.notOk(error.message.includes('Signature='), 'nor the signature');
});
