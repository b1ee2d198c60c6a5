/**
 * What watchTlsFiles does around its start and with files that stay unusable: a pair rotated
 * while the watches were being set up is still picked up, and a file that stays missing is
 * reported once (one error line, one failure counted), not on every poll.
 */
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import t from 'tap';
import type { Test } from 'tap';
import { generateCertificates } from '../../src/tls/generate.js';
import * as material from '../../src/tls/material.js';
import { watchTlsFiles } from '../../src/tls/file-source.js';

const pair = () => generateCertificates({ service: 'reload', namespace: 'test', hosts: ['127.0.0.1'], days: 1, keyType: 'ec' });
const [A, B] = await Promise.all([pair(), pair()]);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function files(t: Test): Promise<{ certFile: string; keyFile: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'tls-reload-start-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const certFile = join(dir, 'tls.crt');
  const keyFile = join(dir, 'tls.key');
  await writeFile(certFile, A.cert);
  await writeFile(keyFile, A.key);
  return { certFile, keyFile };
}

function captureLogs(): { logger: pino.Logger; messages: (level: number) => string[] } {
  const lines: string[] = [];
  const logger = pino({ level: 'debug' }, new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  }));
  const messages = (level: number) =>
    lines.map((line) => JSON.parse(line) as { level: number; msg: string }).filter((record) => record.level === level).map((record) => record.msg);
  return { logger, messages };
}

t.test('a pair rotated between the first load and the watches is picked up at once, without waiting for a poll', async (t) => {
  const { certFile, keyFile } = await files(t);
  // The rotation lands right after the first load, before any directory is watched.
  const { watchTlsFiles: watchRacing } = await t.mockImport<typeof import('../../src/tls/file-source.js')>('../../src/tls/file-source.js', {
    '../../src/tls/material.js': {
      ...material,
      loadTlsMaterial: async (...args: Parameters<typeof material.loadTlsMaterial>) => {
        const loaded = await material.loadTlsMaterial(...args);
        writeFileSync(certFile, B.cert);
        writeFileSync(keyFile, B.key);
        return loaded;
      },
    },
  });
  // No poll, and a debounce longer than the test: only the check made at start can see it.
  const source = await watchRacing(certFile, keyFile, { logger: pino({ level: 'silent' }), pollMs: 0, debounceMs: 600_000 });
  t.teardown(() => source.close());
  for (let i = 0; i < 100 && source.current().cert !== B.cert; i++) await sleep(20);
  t.equal(source.current().cert, B.cert);
});

t.test('a key file that stays missing is reported once, not on every poll; its return is logged', async (t) => {
  const { certFile, keyFile } = await files(t);
  const logs = captureLogs();
  const source = await watchTlsFiles(certFile, keyFile, { logger: logs.logger, pollMs: 40, debounceMs: 10 });
  t.teardown(() => source.close());
  let rejections = 0;
  source.onRejected?.(() => rejections++);
  await sleep(100);
  await unlink(keyFile);
  await sleep(800);
  t.equal(rejections, 1, 'one failure counted for the whole time it is missing');
  t.same(logs.messages(50), ['TLS files changed but cannot be used; still serving the previous certificate until a valid pair appears']);
  await writeFile(keyFile, A.key);
  for (let i = 0; i < 100 && !logs.messages(30).includes('TLS files hold the certificate in use again'); i++) await sleep(20);
  t.ok(logs.messages(30).includes('TLS files hold the certificate in use again'));
  t.equal(source.current().cert, A.cert);
});
