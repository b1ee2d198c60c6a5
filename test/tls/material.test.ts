import { X509Certificate, createPrivateKey } from 'node:crypto';
import * as fsPromises from 'node:fs/promises';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import t from 'tap';
import { generateCertificates } from '../../src/tls/generate.js';
import { TlsMaterialError, loadTlsMaterial, parseSubjectAltNames } from '../../src/tls/material.js';
import { makeTestCertificates, TEST_NAMESPACE, TEST_SERVICE, type TestCertificates } from '../helpers/certs.js';

/** The type of a subtest's `t` (tap does not export it with its plugins applied). */
type Tap = NonNullable<ReturnType<typeof t.test>['subtest']>;

const EXPECTED_SANS = [
  `DNS:${TEST_SERVICE}`,
  `DNS:${TEST_SERVICE}.${TEST_NAMESPACE}`,
  `DNS:${TEST_SERVICE}.${TEST_NAMESPACE}.svc`,
  `DNS:${TEST_SERVICE}.${TEST_NAMESPACE}.svc.cluster.local`,
  'DNS:localhost',
  'IP:127.0.0.1',
  'IP:::1',
];

async function certs(t: Tap, format?: 'rsa-pkcs1' | 'rsa-pkcs8' | 'ec-pkcs8'): Promise<TestCertificates> {
  const c = await makeTestCertificates(format);
  t.teardown(c.cleanup);
  return c;
}

async function tempDir(t: Tap): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tls-material-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Base64 body lines of every PEM block in the given texts (pieces of key material that must never leak). */
function pemBodyLines(...pems: string[]): string[] {
  return pems
    .flatMap((pem) => pem.split('\n'))
    .map((line) => line.trim())
    .filter((line) => line.length >= 16 && !line.startsWith('-----'));
}

/**
 * Asserts that loading rejects with a one-line TlsMaterialError matching `message`, naming
 * `file`, and containing no PEM markers or key bytes.
 */
async function rejectsWith(
  t: Tap,
  promise: Promise<unknown>,
  file: string,
  message: RegExp,
  secrets: string[] = [],
): Promise<void> {
  const err: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof TlsMaterialError)) {
    t.fail(`expected a TlsMaterialError, got ${String(err)}`);
    return;
  }
  t.equal(err.name, 'TlsMaterialError');
  t.match(err.message, message);
  t.ok(err.message.includes(file), `message names ${file}`);
  t.notOk(err.message.includes('\n'), 'message is one line');
  t.notOk(err.message.includes('-----BEGIN'), 'message has no PEM marker');
  for (const line of pemBodyLines(...secrets)) {
    for (let i = 0; i + 16 <= line.length; i += 16) {
      if (err.message.includes(line.slice(i, i + 16))) {
        t.fail('message contains key material');
        return;
      }
    }
  }
}

for (const format of ['rsa-pkcs1', 'rsa-pkcs8', 'ec-pkcs8'] as const) {
  t.test(`good pair loads: ${format}`, async (t) => {
    const c = await certs(t, format);
    t.match(c.keyPem, format === 'rsa-pkcs1' ? /^-----BEGIN RSA PRIVATE KEY-----\n/ : /^-----BEGIN PRIVATE KEY-----\n/);
    const material = await loadTlsMaterial(c.certFile, c.keyFile);
    t.equal(material.cert, c.certPem);
    t.equal(material.key, c.keyPem);
    t.same(material.subjectAltNames, EXPECTED_SANS);
    t.equal(material.notAfter.getTime(), new Date(new X509Certificate(c.certPem).validTo).getTime());
    const hoursLeft = (material.notAfter.getTime() - Date.now()) / 3_600_000;
    t.ok(hoursLeft > 23 && hoursLeft <= 24, `helper certificate valid about a day (${hoursLeft.toFixed(2)}h)`);
    t.equal(createPrivateKey(c.keyPem).asymmetricKeyType, format.startsWith('ec') ? 'ec' : 'rsa');
  });
}

t.test('each helper call gets its own directory', async (t) => {
  const a = await certs(t, 'rsa-pkcs8');
  const b = await certs(t, 'rsa-pkcs8');
  t.not(a.dir, b.dir);
  await a.cleanup();
  await t.rejects(readFile(a.keyFile), { code: 'ENOENT' }, 'cleanup removes the directory');
  t.equal(await readFile(b.keyFile, 'utf8'), b.keyPem, 'other directory untouched');
});

t.test('SEC1 EC keys load, with and without an EC PARAMETERS block', async (t) => {
  const c = await certs(t, 'ec-pkcs8');
  const dir = await tempDir(t);
  const sec1 = createPrivateKey(c.keyPem).export({ type: 'sec1', format: 'pem' }).toString();
  t.match(sec1, /^-----BEGIN EC PRIVATE KEY-----\n/);
  const plain = join(dir, 'sec1.pem');
  await writeFile(plain, sec1);
  t.same((await loadTlsMaterial(c.certFile, plain)).subjectAltNames, EXPECTED_SANS);
  // `openssl ecparam -genkey` output: the curve parameters, then the key.
  const withParams = join(dir, 'sec1-params.pem');
  await writeFile(withParams, `-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n${sec1}`);
  t.equal((await loadTlsMaterial(c.certFile, withParams)).key.includes('EC PARAMETERS'), true);
});

t.test('certificate chain: server certificate first, intermediates after', async (t) => {
  const c = await certs(t, 'rsa-pkcs8');
  const dir = await tempDir(t);
  const chainFile = join(dir, 'chain.pem');
  await writeFile(chainFile, c.certPem + c.caPem);
  const material = await loadTlsMaterial(chainFile, c.keyFile);
  t.equal(material.cert, c.certPem + c.caPem);
  t.same(material.subjectAltNames, EXPECTED_SANS, 'SANs come from the first certificate');

  const reversed = join(dir, 'reversed.pem');
  await writeFile(reversed, c.caPem + c.certPem);
  await rejectsWith(
    t,
    loadTlsMaterial(reversed, c.keyFile),
    reversed,
    /matches certificate #2 in .*reversed\.pem, but the server certificate must come first/,
    [c.keyPem],
  );
});

t.test('unreadable files', async (t) => {
  const c = await certs(t, 'rsa-pkcs8');
  const dir = await tempDir(t);
  const missing = join(dir, 'missing.pem');
  await rejectsWith(t, loadTlsMaterial(missing, c.keyFile), missing, /^cannot read TLS certificate file .*missing\.pem: no such file$/);
  await rejectsWith(t, loadTlsMaterial(c.certFile, missing), missing, /^cannot read TLS private key file .*missing\.pem: no such file$/);
  const subdir = join(dir, 'subdir');
  await mkdir(subdir);
  await rejectsWith(t, loadTlsMaterial(subdir, c.keyFile), subdir, /^cannot read TLS certificate file .*subdir: is a directory$/);
  const underFile = join(c.certFile, 'x.pem');
  await rejectsWith(t, loadTlsMaterial(c.certFile, underFile), underFile, /^cannot read TLS private key file .*: a parent path is not a directory$/);
});

t.test('permission denied (readFile mocked: tests may run as root)', async (t) => {
  const c = await certs(t, 'rsa-pkcs8');
  const mocked = await t.mockImport<typeof import('../../src/tls/material.js')>('../../src/tls/material.js', {
    'node:fs/promises': {
      ...fsPromises,
      readFile: async (file: string, encoding: BufferEncoding): Promise<string> => {
        if (file === c.keyFile) {
          throw Object.assign(new Error(`EACCES: permission denied, open '${file}'`), { code: 'EACCES' });
        }
        return fsPromises.readFile(file, encoding);
      },
    },
  });
  const err: unknown = await mocked.loadTlsMaterial(c.certFile, c.keyFile).catch((e: unknown) => e);
  t.ok(err instanceof mocked.TlsMaterialError);
  t.equal((err as Error).message, `cannot read TLS private key file ${c.keyFile}: permission denied`);
});

t.test('garbage, empty, DER and truncated certificate files', async (t) => {
  const c = await certs(t, 'rsa-pkcs8');
  const dir = await tempDir(t);
  const file = (name: string) => join(dir, name);

  await writeFile(file('garbage.pem'), 'this is not a certificate\n');
  await rejectsWith(t, loadTlsMaterial(file('garbage.pem'), c.keyFile), file('garbage.pem'), /contains no complete PEM certificate/);

  await writeFile(file('empty.pem'), '');
  await rejectsWith(t, loadTlsMaterial(file('empty.pem'), c.keyFile), file('empty.pem'), /contains no complete PEM certificate/);

  await writeFile(file('cert.der'), new X509Certificate(c.certPem).raw);
  await rejectsWith(t, loadTlsMaterial(file('cert.der'), c.keyFile), file('cert.der'), /contains no complete PEM certificate/);

  // Cut in the middle: no END line at all.
  await writeFile(file('cut.pem'), c.certPem.slice(0, Math.floor(c.certPem.length / 2)));
  await rejectsWith(t, loadTlsMaterial(file('cut.pem'), c.keyFile), file('cut.pem'), /no complete PEM certificate \(missing or truncated CERTIFICATE block\)/);

  // Body truncated but BEGIN/END lines intact.
  const lines = c.certPem.trim().split('\n');
  const truncated = [...lines.slice(0, Math.floor(lines.length / 2)), lines[lines.length - 1]].join('\n') + '\n';
  await writeFile(file('truncated.pem'), truncated);
  await rejectsWith(t, loadTlsMaterial(file('truncated.pem'), c.keyFile), file('truncated.pem'), /the certificate is not a valid X\.509 certificate/);

  // Second certificate of a chain corrupted.
  await writeFile(file('chain-bad.pem'), c.certPem + truncated);
  await rejectsWith(t, loadTlsMaterial(file('chain-bad.pem'), c.keyFile), file('chain-bad.pem'), /certificate #2 is not a valid X\.509 certificate/);
});

t.test('garbage, truncated, encrypted and public-only key files', async (t) => {
  const c = await certs(t, 'rsa-pkcs1');
  const dir = await tempDir(t);
  const file = (name: string) => join(dir, name);

  await writeFile(file('garbage.key'), 'not a key at all\n');
  await rejectsWith(t, loadTlsMaterial(c.certFile, file('garbage.key')), file('garbage.key'), /contains no PEM private key/);

  const lines = c.keyPem.trim().split('\n');
  const truncated = [...lines.slice(0, Math.floor(lines.length / 2)), lines[lines.length - 1]].join('\n') + '\n';
  await writeFile(file('truncated.key'), truncated);
  await rejectsWith(
    t,
    loadTlsMaterial(c.certFile, file('truncated.key')),
    file('truncated.key'),
    /does not contain a valid private key \(corrupt or truncated PEM\)/,
    [c.keyPem],
  );

  const encrypted = createPrivateKey(c.keyPem)
    .export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' })
    .toString();
  await writeFile(file('encrypted.key'), encrypted);
  await rejectsWith(t, loadTlsMaterial(c.certFile, file('encrypted.key')), file('encrypted.key'), /encrypted private key; passphrase-protected keys are not supported/, [encrypted]);

  const legacyEncrypted = createPrivateKey(c.keyPem)
    .export({ type: 'pkcs1', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' })
    .toString();
  t.match(legacyEncrypted, /Proc-Type: 4,ENCRYPTED/);
  await writeFile(file('legacy-encrypted.key'), legacyEncrypted);
  await rejectsWith(t, loadTlsMaterial(c.certFile, file('legacy-encrypted.key')), file('legacy-encrypted.key'), /encrypted private key/, [legacyEncrypted]);

  const publicOnly = new X509Certificate(c.certPem).publicKey.export({ type: 'spki', format: 'pem' }).toString();
  await writeFile(file('public.key'), publicOnly);
  await rejectsWith(t, loadTlsMaterial(c.certFile, file('public.key')), file('public.key'), /contains no PEM private key/);
});

t.test('swapped certificate and key files', async (t) => {
  const c = await certs(t, 'rsa-pkcs8');
  await rejectsWith(t, loadTlsMaterial(c.keyFile, c.certFile), c.keyFile, /contains a private key but no certificate \(are the certificate and key files swapped\?\)/, [c.keyPem]);
  const dir = await tempDir(t);
  const certAsKey = join(dir, 'key.pem');
  await writeFile(certAsKey, c.certPem);
  await rejectsWith(t, loadTlsMaterial(c.certFile, certAsKey), certAsKey, /contains a certificate but no private key \(are the certificate and key files swapped\?\)/);
});

t.test('key of another pair does not match', async (t) => {
  const rsa = await certs(t, 'rsa-pkcs8');
  const ec = await certs(t, 'ec-pkcs8');
  const otherRsa = await generateCertificates({ service: 'other', namespace: 'ns', hosts: [], days: 1 });
  const dir = await tempDir(t);
  const otherKeyFile = join(dir, 'other.key');
  await writeFile(otherKeyFile, otherRsa.key);

  await rejectsWith(
    t,
    loadTlsMaterial(rsa.certFile, otherKeyFile),
    otherKeyFile,
    /^TLS private key file .*other\.key \(RSA 2048\) does not match the certificate in .*cert\.pem \(RSA 2048 public key\)$/,
    [otherRsa.key, otherRsa.caKey],
  );
  await t.rejects(loadTlsMaterial(rsa.certFile, otherKeyFile), { message: rsa.certFile }, 'names the certificate file too');

  await rejectsWith(
    t,
    loadTlsMaterial(rsa.certFile, ec.keyFile),
    ec.keyFile,
    /\(EC P-256\) does not match the certificate in .* \(RSA 2048 public key\)$/,
    [ec.keyPem],
  );
  await rejectsWith(t, loadTlsMaterial(ec.certFile, rsa.keyFile), rsa.keyFile, /\(RSA 2048\) does not match .* \(EC P-256 public key\)$/, [rsa.keyPem]);

  // The CA's own key does not serve the leaf certificate either.
  const caKeyFile = join(dir, 'ca.key');
  await writeFile(caKeyFile, otherRsa.caKey);
  const leafFile = join(dir, 'leaf.pem');
  await writeFile(leafFile, otherRsa.cert);
  await rejectsWith(t, loadTlsMaterial(leafFile, caKeyFile), caKeyFile, /does not match the certificate/, [otherRsa.caKey]);
});

t.test('a pair that node:tls refuses (512-bit RSA) is reported', async (t) => {
  const weak = await generate([{ name: 'commonName', value: 'weak.example' }], { keySize: 512, algorithm: 'sha256' });
  const dir = await tempDir(t);
  const certFile = join(dir, 'weak.pem');
  const keyFile = join(dir, 'weak.key');
  await writeFile(certFile, weak.cert);
  await writeFile(keyFile, weak.private);
  await rejectsWith(
    t,
    loadTlsMaterial(certFile, keyFile),
    keyFile,
    /^TLS certificate file .*weak\.pem and key file .*weak\.key were rejected by node:tls: ee key too small$/,
    [weak.private],
  );
});

t.test('parseSubjectAltNames handles quoted values and IPv6', async (t) => {
  t.same(parseSubjectAltNames(undefined), []);
  t.same(parseSubjectAltNames(''), []);
  t.same(
    parseSubjectAltNames('DNS:a.example, IP Address:10.0.0.1, IP Address:FD00:0:0:0:0:0:0:10, URI:"https://x.example/a,b", DNS:b'),
    ['DNS:a.example', 'IP:10.0.0.1', 'IP:fd00::10', 'URI:https://x.example/a,b', 'DNS:b'],
  );
  t.same(parseSubjectAltNames('email:"a\\"b@example.com"'), ['email:a"b@example.com']);
});
