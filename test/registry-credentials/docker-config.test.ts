// parseDockerConfig (both formats) and matchingEntries (kubelet-style key matching).
import t from 'tap';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DockerConfigError, matchingEntries, parseDockerConfig } from '../../src/registry/credentials.js';
import { labelMatches } from '../../src/registry/credentials-docker-config.js';
import type { DockerConfigEntry } from '../../src/registry/credentials.js';

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

t.test('parseDockerConfig: dockerconfigjson with auth fields', async (t) => {
  const content = JSON.stringify({
    auths: {
      'registry.example.com': { auth: b64('alice:pa:ss'), email: 'a@example.com' },
      'https://index.docker.io/v1/': { auth: b64('bob:hub-secret') },
    },
  });
  t.same(parseDockerConfig(content, 'dockerconfigjson'), [
    { pattern: 'registry.example.com', username: 'alice', password: 'pa:ss' },
    { pattern: 'https://index.docker.io/v1/', username: 'bob', password: 'hub-secret' },
  ]);
});

t.test('parseDockerConfig: username/password fields, and auth winning over them', async (t) => {
  const content = JSON.stringify({
    auths: {
      'a.example.com': { username: 'u1', password: 'p1' },
      'b.example.com': { auth: b64('from-auth:p2'), username: 'ignored', password: 'ignored' },
      'c.example.com': { auth: 'not base64!!', username: 'u3', password: 'p3' },
    },
  });
  t.same(parseDockerConfig(content, 'dockerconfigjson'), [
    { pattern: 'a.example.com', username: 'u1', password: 'p1' },
    { pattern: 'b.example.com', username: 'from-auth', password: 'p2' },
    { pattern: 'c.example.com', username: 'u3', password: 'p3' },
  ]);
});

t.test('parseDockerConfig: unusable entries are left out', async (t) => {
  const content = JSON.stringify({
    auths: {
      'bad-base64.example.com': { auth: 'dXNlcjpw%%%' },
      'no-colon.example.com': { auth: b64('justauser') },
      'empty-password.example.com': { auth: b64('user:') },
      'empty-user.example.com': { auth: b64(':password') },
      'not-utf8.example.com': { auth: Buffer.from([0x75, 0x3a, 0xff, 0xfe]).toString('base64') },
      'username-only.example.com': { username: 'u' },
      'identitytoken.example.com': { identitytoken: 'tok' },
      'wrong-types.example.com': { username: 1, password: true },
      'not-an-object.example.com': 'user:pass',
      'null.example.com': null,
      '': { username: 'blank', password: 'key' },
      'good.example.com': { auth: b64('ok:fine') },
    },
  });
  t.same(parseDockerConfig(content, 'dockerconfigjson'), [{ pattern: 'good.example.com', username: 'ok', password: 'fine' }]);
});

t.test('parseDockerConfig: unpadded base64 auth is accepted', async (t) => {
  const padded = b64('user:pw'); // dXNlcjpwdw==
  t.ok(padded.endsWith('='));
  const content = JSON.stringify({ auths: { 'r.example.com': { auth: padded.replace(/=+$/, '') } } });
  t.same(parseDockerConfig(content, 'dockerconfigjson'), [{ pattern: 'r.example.com', username: 'user', password: 'pw' }]);
});

t.test('parseDockerConfig: an auth value wrapped over lines (as base64(1) prints it) is accepted, as by the kubelet', async (t) => {
  // A Google service account key as the password: its base64 is thousands of characters long.
  const password = JSON.stringify({ type: 'service_account', private_key: 'k'.repeat(300) });
  const wrapped = (b64(`_json_key:${password}`).match(/.{1,76}/g) ?? []).join('\n');
  t.ok(wrapped.includes('\n'));
  const content = JSON.stringify({ auths: { 'gcr.io': { auth: `${wrapped}\n` }, 'crlf.example.com': { auth: wrapped.replace(/\n/g, '\r\n') } } });
  t.same(parseDockerConfig(content, 'dockerconfigjson'), [
    { pattern: 'gcr.io', username: '_json_key', password },
    { pattern: 'crlf.example.com', username: '_json_key', password },
  ]);
});

t.test('parseDockerConfig: legacy dockercfg (host map at the top level)', async (t) => {
  const content = JSON.stringify({
    'https://registry.example.com': { auth: b64('legacy:secret'), email: 'x@example.com' },
    'other.example.com:5000': { username: 'u', password: 'p' },
    'broken.example.com': { auth: '****' },
  });
  t.same(parseDockerConfig(content, 'dockercfg'), [
    { pattern: 'https://registry.example.com', username: 'legacy', password: 'secret' },
    { pattern: 'other.example.com:5000', username: 'u', password: 'p' },
  ]);
});

t.test('parseDockerConfig: a dockerconfigjson document without auths has no entries', async (t) => {
  t.same(parseDockerConfig('{}', 'dockerconfigjson'), []);
  t.same(parseDockerConfig('{"credsStore":"desktop","auths":null}', 'dockerconfigjson'), []);
  // Legacy shape parsed as dockerconfigjson: the host keys are not "auths", so nothing.
  t.same(parseDockerConfig(JSON.stringify({ 'r.example.com': { auth: b64('a:b') } }), 'dockerconfigjson'), []);
});

t.test('parseDockerConfig: malformed content throws DockerConfigError without quoting it', async (t) => {
  const secretish = 'hunter2-do-not-leak';
  const cases: Array<[string, 'dockerconfigjson' | 'dockercfg', RegExp]> = [
    [`{"auths": {"r": {"auth": "${secretish}"`, 'dockerconfigjson', /^invalid dockerconfigjson content: not valid JSON$/],
    [`${secretish}`, 'dockercfg', /^invalid dockercfg content: not valid JSON$/],
    [`["${secretish}"]`, 'dockercfg', /^invalid dockercfg content: not a JSON object$/],
    [`"${secretish}"`, 'dockerconfigjson', /^invalid dockerconfigjson content: not a JSON object$/],
    [`{"auths": ["${secretish}"]}`, 'dockerconfigjson', /^invalid dockerconfigjson content: "auths" is not an object$/],
  ];
  for (const [content, format, message] of cases) {
    let caught: unknown;
    try {
      parseDockerConfig(content, format);
    } catch (error) {
      caught = error;
    }
    t.ok(caught instanceof DockerConfigError, `${format}: DockerConfigError`);
    if (!(caught instanceof DockerConfigError)) continue;
    t.match(caught.message, message);
    t.equal(caught.format, format);
    t.notOk(caught.message.includes(secretish), 'message does not quote the content');
    t.notOk(String(caught.stack).includes(secretish), 'stack does not quote the content');
  }
});

// ---------------------------------------------------------------------------

function entry(pattern: string, username = pattern): DockerConfigEntry {
  return { pattern, username, password: `pw-${pattern}` };
}

function patterns(entries: readonly DockerConfigEntry[], domain: string, path = 'team/app'): string[] {
  return matchingEntries(entries, domain, path).map((e) => e.pattern);
}

t.test('matchingEntries: exact host, case-insensitive, scheme and trailing slash allowed', async (t) => {
  const entries = [
    entry('registry.example.com'),
    entry('https://Registry.Example.com/'),
    entry('http://registry.example.com'),
    entry('other.example.com'),
    entry('example.com'),
  ];
  t.same(patterns(entries, 'registry.example.com').sort(), [
    'http://registry.example.com',
    'https://Registry.Example.com/',
    'registry.example.com',
  ]);
  t.same(patterns(entries, 'REGISTRY.example.com').length, 3, 'image host compares case-insensitively');
  t.same(patterns(entries, 'nothing.example.org'), []);
});

t.test('matchingEntries: host:port vs host', async (t) => {
  const entries = [entry('registry.example.com:5000'), entry('registry.example.com'), entry('registry.example.com:6000')];
  t.same(patterns(entries, 'registry.example.com:5000'), ['registry.example.com:5000', 'registry.example.com'],
    'a key with a port needs that port; a key without one matches any port');
  t.same(patterns(entries, 'registry.example.com'), ['registry.example.com'], 'a key with a port does not match an image without one');
  t.same(patterns([entry('localhost:5000'), entry('https://localhost:5000/v2/')], 'localhost:5000'), [
    'localhost:5000',
    'https://localhost:5000/v2/',
  ]);
  t.same(patterns([entry('[::1]:5000'), entry('[::1]')], '[::1]:5000'), ['[::1]:5000', '[::1]']);
  t.same(patterns([entry('[::1]:5000')], '[::1]:5001'), []);
});

t.test('matchingEntries: docker.io aliases, including https://index.docker.io/v1/', async (t) => {
  const keys = [
    'https://index.docker.io/v1/',
    'index.docker.io',
    'docker.io',
    'registry-1.docker.io',
    'https://registry-1.docker.io/v2/',
    'quay.io',
  ];
  const entries = keys.map((key) => entry(key));
  for (const domain of ['docker.io', 'index.docker.io', 'registry-1.docker.io']) {
    const matched = patterns(entries, domain, 'library/nginx');
    t.same([...matched].sort(), keys.filter((k) => k !== 'quay.io').sort(), `every hub alias matches ${domain}`);
  }
  t.same(patterns([entry('docker.io/library')], 'docker.io', 'library/nginx'), ['docker.io/library']);
  t.same(patterns([entry('docker.io/library')], 'docker.io', 'someone/app'), []);
  t.same(patterns([entry('https://index.docker.io/v1/')], 'quay.io', 'library/nginx'), []);
});

t.test('matchingEntries: *.example.com matches one label level per *', async (t) => {
  const entries = [entry('*.example.com')];
  t.same(patterns(entries, 'a.example.com'), ['*.example.com']);
  t.same(patterns(entries, 'a.example.com:443'), ['*.example.com'], 'a key without a port matches any port');
  t.same(patterns(entries, 'a.b.example.com'), [], 'not two levels');
  t.same(patterns(entries, 'example.com'), [], 'not the bare domain');
  t.same(patterns(entries, 'a.example.org'), []);
  t.same(patterns([entry('*.*.example.com')], 'a.b.example.com'), ['*.*.example.com']);
  t.same(patterns([entry('*.*.example.com')], 'a.example.com'), []);
  t.same(patterns([entry('*-docker.pkg.dev')], 'europe-west1-docker.pkg.dev'), ['*-docker.pkg.dev'], '* globs within a label');
  t.same(patterns([entry('*-docker.pkg.dev')], 'gcr.io'), []);
  t.same(patterns([entry('registry.*.example.com')], 'registry.eu.example.com'), ['registry.*.example.com']);
});

t.test('matchingEntries: a key with a path prefix matches only repositories under it', async (t) => {
  const entries = [entry('registry.example.com/team'), entry('https://registry.example.com/team/app/'), entry('registry.example.com/other')];
  t.same(patterns(entries, 'registry.example.com', 'team/app'), ['https://registry.example.com/team/app/', 'registry.example.com/team']);
  t.same(patterns(entries, 'registry.example.com', 'team/app/sub'), ['https://registry.example.com/team/app/', 'registry.example.com/team']);
  t.same(patterns(entries, 'registry.example.com', 'team/tool'), ['registry.example.com/team']);
  t.same(patterns(entries, 'registry.example.com', 'team-b/app'), [], 'prefixes are whole path segments');
  t.same(patterns(entries, 'registry.example.com', 'team'), ['registry.example.com/team']);
  t.same(patterns(entries, 'other.example.com', 'team/app'), []);
});

t.test('matchingEntries: most specific first, every match kept', async (t) => {
  const entries = [
    entry('*.example.com', 'wildcard'),
    entry('registry.example.com', 'host'),
    entry('registry.example.com:5000', 'host-port'),
    entry('registry.example.com/team/app', 'repo'),
    entry('registry.example.com/team', 'team'),
    entry('https://registry.example.com', 'host-again'),
    entry('unrelated.example.org', 'unrelated'),
  ];
  t.same(
    matchingEntries(entries, 'registry.example.com:5000', 'team/app').map((e) => e.username),
    ['repo', 'team', 'host-port', 'host', 'host-again', 'wildcard'],
  );
  t.same(
    matchingEntries(entries, 'registry.example.com', 'other/app').map((e) => e.username),
    ['host', 'host-again', 'wildcard'],
    'exact host before a wildcard of the same length; equal keys keep document order',
  );
});

t.test('matchingEntries: unparsable keys and domains match nothing; input untouched', async (t) => {
  const entries = [entry('https://'), entry('host:port:bad'), entry('[::1'), entry('.example.com'), entry('r.example.com')];
  const before = JSON.stringify(entries);
  t.same(patterns(entries, 'r.example.com'), ['r.example.com']);
  t.same(patterns(entries, 'bad:port:domain'), []);
  t.equal(JSON.stringify(entries), before);
});

t.test('label globs: the same answers as a regular expression, on every small key and label', async (t) => {
  const reference = (key: string, label: string) => new RegExp(`^${key.split('*').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('[^.]*')}$`).test(label);
  let matched = 0;
  fc.assert(
    fc.property(fc.stringMatching(/^[ab*]{0,8}$/), fc.stringMatching(/^[ab]{0,10}$/), (key, label) => {
      const expected = reference(key, label);
      if (expected) matched++;
      assert.equal(labelMatches(key, label), expected, `${JSON.stringify(key)} vs ${JSON.stringify(label)}`);
    }),
    { numRuns: 2000 },
  );
  t.ok(matched > 100, `${matched} matches among the cases`);
});

t.test('label globs built by a pod author cannot make matching backtrack', async (t) => {
  // A backtracking matcher needs about 40 times longer per extra "*" here: with 30 of
  // them it would not finish within the test's timeout. This one answers at once.
  const key = `${'a*'.repeat(30)}z`;
  const label = 'a'.repeat(60);
  t.equal(labelMatches(key, label), false);
  t.equal(labelMatches(key, `${label}z`), true);
  const entries = [{ pattern: `${key}.example.com`, username: 'u', password: 'p' }] as DockerConfigEntry[];
  t.strictSame(matchingEntries(entries, `${label}.example.com`, 'team/app'), [], 'through matchingEntries too');
  t.equal(matchingEntries(entries, `${label}z.example.com`, 'team/app').length, 1);
});
