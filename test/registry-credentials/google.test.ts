// The Google provider against a loopback fake GCE metadata server.
import t from 'tap';
import type { Test } from 'tap';
import {
  GOOGLE_PROVIDER_NAME,
  googleCredentialProvider,
  isGoogleRegistry,
} from '../../src/registry/credentials.js';
import type { GoogleCredentialProviderOptions } from '../../src/registry/credentials.js';
import { TOKEN_PATH, closedPort, manualClock, rejection, startFakeMetadata } from './fixtures/fakes.js';
import type { FakeMetadata } from './fixtures/fakes.js';

const DOMAIN = 'europe-west1-docker.pkg.dev';

async function fakeMetadata(t: Test): Promise<FakeMetadata> {
  const fake = await startFakeMetadata();
  t.teardown(() => fake.close());
  return fake;
}

function provider(fake: FakeMetadata, extra: GoogleCredentialProviderOptions = {}): ReturnType<typeof googleCredentialProvider> {
  return googleCredentialProvider({ env: { GCE_METADATA_HOST: fake.host }, timeoutMs: 2000, ...extra });
}

t.test('isGoogleRegistry / matches: gcr.io, *.gcr.io, *-docker.pkg.dev', async (t) => {
  for (const host of ['gcr.io', 'eu.gcr.io', 'us.gcr.io', 'us-docker.pkg.dev', 'europe-west1-docker.pkg.dev', 'GCR.IO']) {
    t.ok(isGoogleRegistry(host), host);
  }
  for (const host of ['docker.io', 'a.b.gcr.io', 'gcr.io:443', 'evilgcr.io', 'docker.pkg.dev', 'us-python.pkg.dev', 'gcr.io.evil.example', '-docker.pkg.dev']) {
    t.notOk(isGoogleRegistry(host), host);
  }
  const fake = await fakeMetadata(t);
  t.equal(await provider(fake).credential('docker.io'), undefined);
  t.equal(fake.count, 0, 'no request for other registries');
});

t.test('a token from the metadata server: oauth2accesstoken, Metadata-Flavor sent', async (t) => {
  const fake = await fakeMetadata(t);
  const credential = await provider(fake).credential(DOMAIN);
  t.same(credential, { id: GOOGLE_PROVIDER_NAME, username: 'oauth2accesstoken', password: fake.token(1) });
  t.same(fake.paths, [TOKEN_PATH]);
  t.same(fake.flavors, ['Google']);
});

t.test('GCE_METADATA_HOST wins over GCE_METADATA_IP; an explicit metadataHost wins over both', async (t) => {
  const fake = await fakeMetadata(t);
  const port = await closedPort();
  const viaIp = googleCredentialProvider({ env: { GCE_METADATA_IP: fake.host }, timeoutMs: 2000 });
  t.equal((await viaIp.credential('gcr.io'))?.password, fake.token(1));
  const both = googleCredentialProvider({ env: { GCE_METADATA_HOST: fake.host, GCE_METADATA_IP: `127.0.0.1:${port}` } });
  t.equal((await both.credential('gcr.io'))?.password, fake.token(2));
  const explicit = googleCredentialProvider({ metadataHost: fake.host, env: { GCE_METADATA_HOST: `127.0.0.1:${port}` } });
  t.equal((await explicit.credential('gcr.io'))?.password, fake.token(3));
});

t.test('the token is cached: a second call (any Google registry) makes no request', async (t) => {
  const fake = await fakeMetadata(t);
  const google = provider(fake);
  t.equal((await google.credential(DOMAIN))?.password, fake.token(1));
  t.equal((await google.credential('gcr.io'))?.password, fake.token(1));
  const concurrent = await Promise.all([1, 2, 3].map(() => google.credential('eu.gcr.io')));
  t.same(concurrent.map((c) => c?.password), [fake.token(1), fake.token(1), fake.token(1)]);
  t.equal(fake.count, 1);
});

t.test('an expired token is refreshed; short-lived tokens are kept for half their life', async (t) => {
  const fake = await fakeMetadata(t);
  const clock = manualClock();
  const google = provider(fake, { now: clock.now, refreshMarginMs: 5 * 60_000 });
  fake.expiresIn = 3600;
  t.equal((await google.credential(DOMAIN))?.password, fake.token(1));
  clock.advance(54 * 60_000);
  t.equal((await google.credential(DOMAIN))?.password, fake.token(1), 'valid until 5 min before expiry');
  clock.advance(2 * 60_000);
  fake.expiresIn = 120;
  t.equal((await google.credential(DOMAIN))?.password, fake.token(2), 'refreshed');
  clock.advance(59_000);
  t.equal((await google.credential(DOMAIN))?.password, fake.token(2), 'a 2-minute token is used for 1 minute');
  clock.advance(2_000);
  t.equal((await google.credential(DOMAIN))?.password, fake.token(3));
  t.equal(fake.count, 3);
});

t.test('metadata server down: CloudCredentialError, the same error during the backoff', async (t) => {
  const port = await closedPort();
  const clock = manualClock();
  const google = googleCredentialProvider({
    env: { GCE_METADATA_HOST: `127.0.0.1:${port}` },
    timeoutMs: 2000,
    now: clock.now,
    failureBackoffMs: 15_000,
  });
  const error = await rejection(t, google.credential(DOMAIN));
  t.match(error.message, new RegExp(`^Google workload identity: metadata server 127\\.0\\.0\\.1:${port} unreachable \\(.*ECONNREFUSED`));
  t.equal(error.provider, GOOGLE_PROVIDER_NAME);
  const again = await rejection(t, google.credential(DOMAIN));
  t.equal(again.message, error.message, 'the same failure during the backoff');
});

t.test('failure backoff: no new request until it has passed', async (t) => {
  const fake = await fakeMetadata(t);
  fake.mode = 'not-found';
  const clock = manualClock();
  const google = provider(fake, { now: clock.now, failureBackoffMs: 15_000 });
  const error = await rejection(t, google.credential(DOMAIN));
  t.match(error.message, /answered HTTP 404 \(no service account/);
  clock.advance(14_000);
  await rejection(t, google.credential(DOMAIN));
  t.equal(fake.count, 1);
  fake.mode = 'ok';
  clock.advance(2_000);
  t.equal((await google.credential(DOMAIN))?.password, fake.token(1));
  t.equal(fake.count, 2);
});

t.test('a server that never answers: bounded by timeoutMs', async (t) => {
  const fake = await fakeMetadata(t);
  fake.mode = 'hang';
  const started = Date.now();
  const error = await rejection(t, provider(fake, { timeoutMs: 200 }).credential(DOMAIN));
  t.equal(error.message, `Google workload identity: metadata server ${fake.host} did not answer within 200ms`);
  t.ok(Date.now() - started < 2000);
});

t.test('bad answers are errors that never quote the token', async (t) => {
  const cases: Array<[FakeMetadata['mode'], RegExp]> = [
    ['no-flavor', /answered without "Metadata-Flavor: Google"; not a metadata server$/],
    ['not-json', /returned a token response that is not JSON$/],
    ['no-token', /returned a token response without access_token\/expires_in$/],
  ];
  for (const [mode, message] of cases) {
    const fake = await fakeMetadata(t);
    fake.mode = mode;
    const error = await rejection(t, provider(fake).credential(DOMAIN));
    t.match(error.message, message, mode);
    t.notOk(error.message.includes('ya29'), `${mode}: no token in the message`);
  }
});
