import { X509Certificate, createPrivateKey } from 'node:crypto';
import t from 'tap';
import { generateCertificates, type CertificateRequest } from '../../src/tls/generate.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Key usage bits of a DER certificate: finds the keyUsage extension (OID 2.5.29.15 = 55 1d 0f),
 * skips an optional `critical` BOOLEAN, and reads the first byte of the BIT STRING.
 */
function keyUsage(cert: X509Certificate): { critical: boolean; bits: number } | undefined {
  const der = cert.raw;
  const oid = Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x0f]);
  const at = der.indexOf(oid);
  if (at < 0) return undefined;
  let p = at + oid.length;
  let critical = false;
  if (der[p] === 0x01 && der[p + 1] === 0x01) {
    critical = der[p + 2] === 0xff;
    p += 3;
  }
  // OCTET STRING { BIT STRING { unused-bits, flags... } }
  if (der[p] !== 0x04 || der[p + 2] !== 0x03) return undefined;
  const flags = der[p + 5];
  return flags === undefined ? undefined : { critical, bits: flags };
}
/** Whether the DER certificate contains the given encoded OID (e.g. a signature algorithm). */
function containsOid(cert: X509Certificate, oid: number[]): boolean {
  return cert.raw.includes(Buffer.from([0x06, oid.length, ...oid]));
}
const SHA256_WITH_RSA = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b]; // 1.2.840.113549.1.1.11
const SHA1_WITH_RSA = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05]; // 1.2.840.113549.1.1.5
const ECDSA_WITH_SHA256 = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]; // 1.2.840.10045.4.3.2
const ECDSA_WITH_SHA1 = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01]; // 1.2.840.10045.4.1

const DIGITAL_SIGNATURE = 0x80;
const KEY_ENCIPHERMENT = 0x20;
const KEY_CERT_SIGN = 0x04;
const CRL_SIGN = 0x02;

const base: CertificateRequest = {
  service: 'webhook',
  namespace: 'secrets',
  hosts: ['127.0.0.1', 'localhost', '::1', 'Webhook.Example.COM', 'webhook.secrets.svc', '127.0.0.1'],
  days: 30,
};

t.test('RSA (default): SANs, subject, validity, chain, CA flags', async (t) => {
  const before = Date.now();
  const certs = await generateCertificates(base);
  const after = Date.now();
  const ca = new X509Certificate(certs.caCert);
  const leaf = new X509Certificate(certs.cert);

  t.equal(
    leaf.subjectAltName,
    'DNS:webhook, DNS:webhook.secrets, DNS:webhook.secrets.svc, DNS:webhook.secrets.svc.cluster.local, ' +
      'IP Address:127.0.0.1, DNS:localhost, IP Address:0:0:0:0:0:0:0:1, DNS:webhook.example.com',
    'four service names, then extra hosts in order, IPs as IP SANs, duplicates dropped',
  );
  t.equal(leaf.subject, 'CN=webhook.secrets.svc');
  t.equal(leaf.issuer, ca.subject);
  t.not(ca.subject, leaf.subject, 'CA and leaf have distinct names');
  t.equal(ca.subjectAltName, undefined, 'CA has no SANs');

  t.equal(ca.ca, true, 'CA is a CA');
  t.equal(leaf.ca, false, 'leaf is not a CA');
  t.ok(leaf.verify(ca.publicKey), 'leaf signature verifies with CA public key');
  t.ok(leaf.checkIssued(ca), 'leaf was issued by CA');
  t.ok(ca.verify(ca.publicKey), 'CA is self-signed');
  t.notOk(ca.checkIssued(leaf), 'CA was not issued by leaf');
  t.same(leaf.keyUsage, ['1.3.6.1.5.5.7.3.1'], 'extKeyUsage is exactly serverAuth');

  const leafKu = keyUsage(leaf);
  t.same(leafKu, { critical: true, bits: DIGITAL_SIGNATURE | KEY_ENCIPHERMENT }, 'leaf keyUsage');
  const caKu = keyUsage(ca);
  t.same(caKu, { critical: true, bits: KEY_CERT_SIGN | CRL_SIGN }, 'CA keyUsage');

  for (const cert of [ca, leaf]) {
    const notBefore = new Date(cert.validFrom).getTime();
    const notAfter = new Date(cert.validTo).getTime();
    t.ok(notBefore <= before, 'valid from before generation');
    t.ok(notBefore >= before - 10 * 60 * 1000, 'notBefore backdated by at most a few minutes');
    t.ok(notAfter >= before + 30 * DAY_MS - 1000, 'valid for at least 30 days');
    t.ok(notAfter <= after + 30 * DAY_MS + 1000, 'valid for no more than 30 days');
  }
  for (const cert of [ca, leaf]) {
    t.ok(containsOid(cert, SHA256_WITH_RSA), 'signed with sha256WithRSAEncryption');
    t.notOk(containsOid(cert, SHA1_WITH_RSA), 'not signed with SHA-1 (selfsigned default)');
  }

  const key = createPrivateKey(certs.key);
  t.equal(key.asymmetricKeyType, 'rsa');
  t.equal(key.asymmetricKeyDetails?.modulusLength, 2048);
  t.ok(leaf.checkPrivateKey(key), 'key belongs to leaf');
  t.ok(ca.checkPrivateKey(createPrivateKey(certs.caKey)), 'caKey belongs to CA');
  t.match(certs.key, /^-----BEGIN PRIVATE KEY-----\n/);
  for (const [name, pem] of Object.entries(certs)) {
    t.match(pem, /^-----BEGIN [A-Z ]+-----\n[A-Za-z0-9+/=\n]+-----END [A-Z ]+-----\n$/, `${name} is a single PEM block ending in a newline`);
  }
});

t.test('EC: P-256 keys, ECDSA signatures, digitalSignature only', async (t) => {
  const certs = await generateCertificates({ ...base, hosts: [], days: 1, keyType: 'ec' });
  const ca = new X509Certificate(certs.caCert);
  const leaf = new X509Certificate(certs.cert);
  t.equal(
    leaf.subjectAltName,
    'DNS:webhook, DNS:webhook.secrets, DNS:webhook.secrets.svc, DNS:webhook.secrets.svc.cluster.local',
  );
  const key = createPrivateKey(certs.key);
  t.equal(key.asymmetricKeyType, 'ec');
  t.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  t.equal(createPrivateKey(certs.caKey).asymmetricKeyType, 'ec');
  t.ok(leaf.checkPrivateKey(key));
  t.ok(leaf.verify(ca.publicKey));
  t.ok(leaf.checkIssued(ca));
  t.equal(ca.ca, true);
  t.equal(leaf.ca, false);
  t.same(keyUsage(leaf), { critical: true, bits: DIGITAL_SIGNATURE });
  for (const cert of [ca, leaf]) {
    t.ok(containsOid(cert, ECDSA_WITH_SHA256), 'signed with ecdsa-with-SHA256');
    t.notOk(containsOid(cert, ECDSA_WITH_SHA1), 'not signed with ecdsa-with-SHA1');
  }
  const lifetime = new Date(leaf.validTo).getTime() - Date.now();
  t.ok(Math.abs(lifetime - DAY_MS) < 60 * 1000, 'valid for about one day');
});

t.test('each call makes new keys and serials', async (t) => {
  const a = await generateCertificates({ ...base, keyType: 'ec' });
  const b = await generateCertificates({ ...base, keyType: 'ec' });
  t.not(a.key, b.key);
  t.not(a.caKey, b.caKey);
  const la = new X509Certificate(a.cert);
  const lb = new X509Certificate(b.cert);
  t.not(la.serialNumber, lb.serialNumber);
  t.not(new X509Certificate(a.caCert).subject, new X509Certificate(b.caCert).subject, 'CA names are unique');
  t.match(new X509Certificate(a.caCert).subject, /^CN=webhook\.secrets\.svc CA [0-9a-f]{8}\nO=secrets-init-webhook$/);
  t.notOk(la.verify(new X509Certificate(b.caCert).publicKey), "a's leaf does not verify with b's CA");
});

t.test('invalid requests are rejected before any key is generated', async (t) => {
  const bad: Array<[string, CertificateRequest, RegExp]> = [
    ['service with underscore', { ...base, service: 'Bad_Name' }, /invalid service name "Bad_Name"/],
    ['empty namespace', { ...base, namespace: '' }, /invalid namespace ""/],
    ['dotted namespace', { ...base, namespace: 'a.b' }, /invalid namespace "a.b"/],
    ['zero days', { ...base, days: 0 }, /invalid certificate validity 0 days/],
    ['NaN days', { ...base, days: Number.NaN }, /invalid certificate validity NaN days/],
    ['huge days', { ...base, days: 1e9 }, /invalid certificate validity/],
    ['host with space', { ...base, hosts: ['exa mple.com'] }, /invalid host "exa mple.com"/],
    ['empty host', { ...base, hosts: [''] }, /invalid host ""/],
    ['host with comma', { ...base, hosts: ['a,b'] }, /invalid host "a,b"/],
    ['unknown key type', { ...base, keyType: 'dsa' } as unknown as CertificateRequest, /invalid key type "dsa"/],
  ];
  for (const [name, req, message] of bad) {
    await t.rejects(generateCertificates(req), { name: 'RangeError', message }, name);
  }
});

t.test('wildcard and bracketed IPv6 hosts are accepted', async (t) => {
  const certs = await generateCertificates({ ...base, hosts: ['*.webhook.example', '[fd00::10]'], keyType: 'ec' });
  t.match(new X509Certificate(certs.cert).subjectAltName ?? '', /DNS:\*\.webhook\.example, IP Address:FD00:0:0:0:0:0:0:10$/);
});
