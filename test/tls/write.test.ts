import { X509Certificate } from 'node:crypto';
import { chmod, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import t from 'tap';
import { caBundle, generateCertificates, writeCertificates } from '../../src/tls/generate.js';
import { loadTlsMaterial } from '../../src/tls/material.js';

t.test('writeCertificates writes ca.pem, cert.pem and a 0600 key.pem; caBundle is the base64 CA PEM', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'tls-write-test-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const certs = await generateCertificates({ service: 'webhook', namespace: 'secrets', hosts: [], days: 2, keyType: 'ec' });

  const dir = join(root, 'nested', 'certs');
  const files = await writeCertificates(dir, certs);
  t.same(files, { caFile: join(dir, 'ca.pem'), certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') });
  t.ok(isAbsolute(files.keyFile));

  t.equal(await readFile(files.caFile, 'utf8'), certs.caCert);
  t.equal(await readFile(files.certFile, 'utf8'), certs.cert);
  t.equal(await readFile(files.keyFile, 'utf8'), certs.key);
  t.equal((await stat(files.keyFile)).mode & 0o777, 0o600, 'key.pem is 0600');
  t.equal((await stat(files.certFile)).mode & 0o777, 0o644, 'cert.pem is 0644');
  t.equal((await stat(files.caFile)).mode & 0o777, 0o644, 'ca.pem is 0644');
  t.same((await readdir(dir)).sort(), ['ca.pem', 'cert.pem', 'key.pem'], 'no temp files or CA key left behind');

  const material = await loadTlsMaterial(files.certFile, files.keyFile);
  t.equal(material.cert, certs.cert, 'written files load');

  const bundle = caBundle(certs);
  t.match(bundle, /^[A-Za-z0-9+/]+=*$/, 'single-line base64');
  const decoded = Buffer.from(bundle, 'base64').toString('utf8');
  t.equal(decoded, certs.caCert, 'caBundle decodes to the CA PEM');
  t.equal(new X509Certificate(decoded).ca, true);
  t.not(decoded, certs.cert);
});

t.test('rewriting replaces files, including a pre-existing world-readable key.pem', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tls-write-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'key.pem'), 'old', { mode: 0o644 });
  await chmod(join(dir, 'key.pem'), 0o644);
  const certs = await generateCertificates({ service: 'webhook', namespace: 'secrets', hosts: [], days: 1, keyType: 'ec' });
  const { keyFile } = await writeCertificates(dir, certs);
  t.equal(await readFile(keyFile, 'utf8'), certs.key);
  t.equal((await stat(keyFile)).mode & 0o777, 0o600, 'key.pem tightened to 0600');

  const again = await generateCertificates({ service: 'webhook', namespace: 'secrets', hosts: [], days: 1, keyType: 'ec' });
  await writeCertificates(dir, again);
  t.equal(await readFile(keyFile, 'utf8'), again.key, 'second write replaces the key');
  t.same((await readdir(dir)).sort(), ['ca.pem', 'cert.pem', 'key.pem']);
});

t.test('writeCertificates fails cleanly when dir is a file', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tls-write-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'file');
  await writeFile(file, 'x');
  const certs = await generateCertificates({ service: 'webhook', namespace: 'secrets', hosts: [], days: 1, keyType: 'ec' });
  await t.rejects(writeCertificates(file, certs), { message: `cannot use ${file} as the output folder: ${file} is not a directory` });
});

t.test('writeCertificates: an output folder it cannot make is an error naming it, never a hang', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'tls-write-test-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const certs = await generateCertificates({ service: 'webhook', namespace: 'secrets', hosts: [], days: 2, keyType: 'ec' });
  const file = join(root, 'a-file');
  await writeFile(file, 'x');
  /** The error writeCertificates ends with, or a note that it did not end within 5 s. */
  const failure = async (dir: string): Promise<string> => {
    let timer: NodeJS.Timeout | undefined;
    const hung = new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve('still running after 5 s'), 5_000);
    });
    const outcome = writeCertificates(dir, certs).then(
      () => 'written',
      (error: unknown) => (error instanceof Error ? error.message : String(error)),
    );
    const result = await Promise.race([outcome, hung]);
    clearTimeout(timer);
    return result;
  };
  t.equal(await failure(file), `cannot use ${file} as the output folder: ${file} is not a directory`);
  t.match(await failure(join(file, 'sub')), new RegExp(`^cannot use ${file}/sub as the output folder: ENOTDIR`));
  // Node 20's recursive mkdir spun at 100% CPU for ever on a folder the kernel refuses with ENOENT.
  if (process.platform === 'linux') t.equal(await failure('/proc/secrets-init-webhook-test/certs'), 'cannot create the output folder /proc/secrets-init-webhook-test: ENOENT: no such file or directory');
  const made = join(root, 'x', 'y', 'z');
  t.equal(await failure(made), 'written', 'missing parents are made');
  t.same((await readdir(made)).sort(), ['ca.pem', 'cert.pem', 'key.pem']);
  t.equal(await failure(made), 'written', 'an existing folder is used');
});
