import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { TurnBatchedOutput } from '../../src/telemetry/log-output.js';
import { REPO_ROOT } from '../helpers/webhook-process.js';

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

function recorder(): { sink: { write(text: string): void }; writes: string[] } {
  const writes: string[] = [];
  return { sink: { write: (text: string) => void writes.push(text) }, writes };
}

t.test('lines of one turn leave in one write at its end, in order', async (t) => {
  const { sink, writes } = recorder();
  const output = new TurnBatchedOutput(sink);
  output.write('a\n');
  output.write('b\n');
  output.write('c\n');
  t.same(writes, [], 'nothing written during the turn');
  await turn();
  t.same(writes, ['a\nb\nc\n'], 'one write at the end of the turn');
  output.write('d\n');
  await turn();
  t.same(writes, ['a\nb\nc\n', 'd\n'], 'the next turn is a write of its own');
  await turn();
  t.equal(writes.length, 2, 'an idle turn writes nothing');
});

t.test('past 64 KiB pending, lines leave at once', async (t) => {
  const { sink, writes } = recorder();
  const output = new TurnBatchedOutput(sink);
  const line = `${'x'.repeat(1023)}\n`;
  for (let i = 0; i < 64; i++) output.write(line);
  t.equal(writes.length, 1, 'written within the turn');
  t.equal(writes[0]?.length, 64 * 1024);
  output.write('tail\n');
  t.equal(writes.length, 1);
  await turn();
  t.same(writes.slice(1), ['tail\n'], 'the rest at the end of the turn');
});

t.test('flush writes what is pending now and calls back', async (t) => {
  const { sink, writes } = recorder();
  const output = new TurnBatchedOutput(sink);
  output.write('now\n');
  let called = false;
  output.flush(() => {
    called = true;
  });
  t.ok(called);
  t.same(writes, ['now\n']);
  await turn();
  t.same(writes, ['now\n'], 'nothing written twice');
});

t.test("the built server's logger: lines logged right before process.exit are written", async (t) => {
  const logger = join(REPO_ROOT, 'dist', 'telemetry', 'logger.js');
  if (!existsSync(logger)) {
    t.fail('dist/ is missing: run npm run build (npm test does)');
    return;
  }
  const script = (json: boolean, exit: string) =>
    `const { createLogger } = await import(${JSON.stringify(logger)});
     const log = createLogger({ logLevel: 'info', json: ${json} });
     for (let i = 0; i < 3; i++) log.info({ i }, 'line');
     log.fatal({ reason: 'test' }, 'last words');
     ${exit}`;
  for (const json of [true, false]) {
    for (const exit of ['process.exit(3)', 'throw new Error("boom")']) {
      const result = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script(json, exit)]).then(
        () => ({ code: 0, stdout: '' }),
        (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout }),
      );
      const lines = result.stdout.split('\n').filter((line) => line !== '');
      t.not(result.code, 0, `${exit} exits non-zero`);
      t.equal(lines.length, 4, `${json ? 'JSON' : 'text'}, ${exit}: every line written`);
      t.match(lines[3] ?? '', json ? /"msg":"last words"/ : / FATAL last words reason=test$/);
    }
  }
});
