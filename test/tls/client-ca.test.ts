/**
 * --client-ca-file is validated with the pair, at start and on every reload: a file that
 * holds no certificate, or a corrupt one, is refused and named, never served.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { generateCertificates } from '../../src/tls/generate.js';
import { TlsMaterialError, loadTlsMaterial } from '../../src/tls/material.js';

const pair = await generateCertificates({ service: 'client-ca', namespace: 'test', hosts: ['127.0.0.1'], days: 1, keyType: 'ec' });
const dir = await mkdtemp(join(tmpdir(), 'tls-client-ca-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const certFile = join(dir, 'tls.crt');
const keyFile = join(dir, 'tls.key');
const caFile = join(dir, 'client-ca.crt');
await writeFile(certFile, pair.cert);
await writeFile(keyFile, pair.key);

t.test('a client CA file that holds a certificate is loaded with the pair', async (t) => {
  await writeFile(caFile, pair.caCert);
  t.equal((await loadTlsMaterial(certFile, keyFile, caFile)).clientCa, pair.caCert);
});

t.test('a client CA file without a usable certificate is refused, naming the file', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['not a certificate\n', /client CA file .*client-ca\.crt contains no complete PEM certificate/],
    [pair.key, /client CA file .*client-ca\.crt contains a private key but no certificate/],
    ['-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', /client CA file .*client-ca\.crt: the certificate is not a valid X\.509 certificate/],
  ];
  for (const [content, message] of cases) {
    await writeFile(caFile, content);
    await t.rejects(loadTlsMaterial(certFile, keyFile, caFile), TlsMaterialError);
    await t.rejects(loadTlsMaterial(certFile, keyFile, caFile), { message });
  }
});
