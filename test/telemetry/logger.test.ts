import t from 'tap';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { createLogger, isoTime, textLine } from '../../src/telemetry/logger.js';

function capture(json: boolean): { logger: ReturnType<typeof createLogger>; lines: () => string[] } {
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  const logger = createLogger({ logLevel: 'debug', json }, sink);
  return {
    logger,
    lines: () => {
      logger.flush();
      return text.split('\n').filter((line) => line !== '');
    },
  };
}

t.test('text logs: one line per event, time LEVEL message key=value', async (t) => {
  const { logger, lines } = capture(false);
  logger.info({ uid: 'u-1', pod: 'ns/web-7f9', containers: ['api', 'worker'], durationMs: 1.25, dryRun: false, reason: 'a "quoted" value=x' }, 'admission decided');
  logger.warn({ err: new Error('boom\nsecond line') }, 'something failed');
  logger.debug('plain');
  const [first, second, third] = lines();
  t.match(first, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO admission decided uid=u-1 pod=ns\/web-7f9 containers="\[\\"api\\",\\"worker\\"\]" durationMs=1\.25 dryRun=false reason="a \\"quoted\\" value=x"$/);
  t.match(second, / WARN something failed err="Error: boom\\nsecond line"$/, 'an error in one line, without its stack');
  t.match(third, / DEBUG plain$/);
  t.equal(lines().length, 3, 'exactly one line each');
});

t.test('--json: pino JSON lines unchanged', async (t) => {
  const { logger, lines } = capture(true);
  logger.info({ uid: 'u-2' }, 'admission decided');
  const record = JSON.parse(lines()[0] ?? '{}') as Record<string, unknown>;
  t.match(record, { level: 30, msg: 'admission decided', uid: 'u-2', app: 'secrets-init-webhook' });
});

t.test('textLine: a line that is not JSON passes through', async (t) => {
  t.equal(textLine('not json'), 'not json\n');
  t.equal(textLine('{"level":50,"time":"T","msg":"m","empty":""}'), 'T ERROR m empty=""\n');
});

t.test('isoTime: the field pino.stdTimeFunctions.isoTime writes, current to the millisecond', async (t) => {
  const timeOf = (field: string) => Date.parse(/^,"time":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)"$/.exec(field)?.[1] ?? 'no match');
  for (let round = 0; round < 3; round++) {
    const before = Date.now();
    const field = isoTime();
    const after = Date.now();
    t.ok(timeOf(field) >= before && timeOf(field) <= after, `${field} is between ${before} and ${after}`);
    t.equal(field.length, pino.stdTimeFunctions.isoTime().length);
    await sleep(3);
  }
});
