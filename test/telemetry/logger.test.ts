import t from 'tap';
import fc from 'fast-check';
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

/**
 * The text line of a record, written plainly for the test: head, then every other field as
 * key=value; a value bare when it has no space, quote, `=`, backslash or control character, else
 * as a JSON string; time, level and message bare unless they hold a control character;
 * numbers, booleans and null as they print; an error (type and message) as `type: message`;
 * other objects and arrays as their JSON, quoted.
 */
function expectedLine(record: Record<string, unknown>): string {
  // A Map: a record's own "level" field may be any text, "toString" included.
  const levels = new Map([[10, 'TRACE'], [20, 'DEBUG'], [30, 'INFO'], [40, 'WARN'], [50, 'ERROR'], [60, 'FATAL']]);
  const control = (c: string) => c.charCodeAt(0) < 0x20;
  const plain = (text: string) => (text !== '' && ![...text].some((c) => /\s/.test(c) || c === '"' || c === '=' || c === '\\' || control(c)) ? text : JSON.stringify(text));
  // The head's parts stay as they are unless they would break the line.
  const head = (text: string) => ([...text].some(control) ? JSON.stringify(text) : text);
  const show = (value: unknown): string => {
    if (typeof value === 'string') return plain(value);
    if (typeof value !== 'object' || value === null) return String(value);
    const error = value as Record<string, unknown>;
    if (typeof error['type'] === 'string' && typeof error['message'] === 'string') return plain(`${error['type']}: ${error['message']}`);
    return plain(JSON.stringify(value));
  };
  const first = `${head(String(record['time'] ?? ''))} ${head(levels.get(Number(record['level'])) ?? String(record['level']))} ${head(String(record['msg'] ?? ''))}`;
  const fields = Object.keys(record)
    .filter((key) => !['level', 'time', 'msg', 'pid', 'hostname', 'app'].includes(key))
    .map((key) => ` ${key}=${show(record[key])}`);
  return `${first}${fields.join('')}\n`;
}

t.test('textLine: every field of any JSON record, as the plain model writes it', async (t) => {
  const text = fc.oneof(fc.string(), fc.string({ unit: 'binary', maxLength: 20 }), fc.constantFrom('', ' ', 'a=b', 'say "hi"', 'C:\\x', 'tab\there', 'line\nbreak', '\u00a0', '\u2028', 'ok'));
  const value = fc.oneof(
    text,
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.boolean(),
    fc.constant(null),
    fc.record({ type: text, message: text, stack: text }),
    fc.jsonValue({ maxDepth: 2 }),
  );
  const key = fc.oneof(fc.string({ minLength: 1, maxLength: 12 }), fc.constantFrom('level', 'time', 'msg', 'pid', 'hostname', 'app', 'err', '__proto__', 'constructor', '0', '7'));
  // A record's own level field: any value above, or the texts that name an Object method or a level.
  const levelField = fc.record({ level: fc.constantFrom('toString', 'constructor', '__proto__', 'valueOf', '30', ' 40', 'INFO') });
  fc.assert(
    fc.property(fc.oneof(fc.dictionary(key, value, { maxKeys: 8 }), levelField), fc.constantFrom(10, 20, 30, 40, 50, 60, 35), fc.oneof(fc.constant('admission decided'), text), (fields, level, msg) => {
      const json = JSON.stringify({ level, time: '2026-11-27T07:41:00.123Z', ...(fields as Record<string, unknown>), msg });
      const record = JSON.parse(json) as Record<string, unknown>;
      const line = textLine(json);
      if (line !== expectedLine(record)) throw new Error(`${json}\n  gave ${line}  not  ${expectedLine(record)}`);
      if (line.indexOf('\n') !== line.length - 1) throw new Error(`more than one line for ${json}`);
    }),
    { numRuns: 1000 },
  );
  for (const notAnObject of ['null', '3', '"text"', '[1,2]', 'true']) t.equal(textLine(notAnObject), `${notAnObject}\n`, `${notAnObject} as it came`);
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

t.test("--log-level takes the reference's level names: warning is pino's warn, panic its fatal", async (t) => {
  const sink = new Writable({ write: (_chunk, _encoding, done) => done() });
  const table: Array<[string, string]> = [['debug', 'debug'], ['info', 'info'], ['warning', 'warn'], ['error', 'error'], ['fatal', 'fatal'], ['panic', 'fatal'], ['verbose', 'info']];
  for (const [given, level] of table) t.equal(createLogger({ logLevel: given, json: true }, sink).level, level, given);
});
