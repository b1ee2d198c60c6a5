/**
 * `inject … | head`: the reader closes the pipe before inject has written everything. What is
 * left is not written, and the command ends with its own exit code, without a stack trace.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { MAIN_JS, REPO_ROOT } from '../helpers/webhook-process.js';

t.test('stdout closed by its reader: exit 0, no stack trace', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'inject-pipe-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const pods = Array.from({ length: 400 }, (_, i) => `apiVersion: v1\nkind: Pod\nmetadata: {name: p${i}}\nspec:\n  containers:\n    - name: c\n      image: app:1\n      command: [/app]\n      env: [{name: DB, value: "arn:aws:secretsmanager:us-east-1:123456789012:secret:db"}]\n`);
  await writeFile(join(dir, 'pods.yaml'), pods.join('---\n'));
  const child = spawn(process.execPath, [MAIN_JS, 'inject', '-f', join(dir, 'pods.yaml')], { cwd: REPO_ROOT, env: { PATH: process.env['PATH'] ?? '', HOME: '/nonexistent-home' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  // As `head -1` does: read the first bytes, then close the pipe.
  child.stdout.once('data', () => child.stdout.destroy());
  const code = await new Promise<number | null>((resolve) => child.once('close', (exitCode) => resolve(exitCode)));
  t.equal(stderr, '', 'nothing on stderr');
  t.equal(code, 0);
});
