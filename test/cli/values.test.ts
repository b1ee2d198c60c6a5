import t from 'tap';
import { formatListenAddress, parseByteSize, parseDurationMs, parseListenAddress } from '../../src/cli/parse.js';

t.test('formatListenAddress is the inverse of parseListenAddress', async (tt) => {
  for (const text of [':8443', '0.0.0.0:8443', '127.0.0.1:0', 'localhost:8443', '[::1]:8443', '[::]:0', '[fe80::1]:9']) {
    const parsed = parseListenAddress(text);
    if (!parsed.ok) {
      tt.fail(`${text}: ${parsed.reason}`);
      continue;
    }
    tt.equal(formatListenAddress(parsed.value), text);
  }
  tt.equal(formatListenAddress({ host: '2001:db8::1', port: 443 }), '[2001:db8::1]:443');
  tt.equal(formatListenAddress({ host: '', port: 0 }), ':0');
});

t.test('parseDurationMs follows Go time.ParseDuration', async (tt) => {
  const cases: Array<[string, number]> = [
    ['0', 0],
    ['1h', 3_600_000],
    ['1h2m3s', 3_723_000],
    ['1.5s', 1500],
    ['-1.5s', -1500],
    ['1.s', 1000],
    ['.5s', 500],
    ['1000000ns', 1],
    ['1\u00b5s', 0.001],
    ['1\u03bcs', 0.001],
    ['1us', 0.001],
  ];
  for (const [text, ms] of cases) {
    const parsed = parseDurationMs(text);
    tt.strictSame(parsed, { ok: true, value: ms }, text);
  }
  for (const text of ['', '-', '1', '1d', 's', '1s2', '1 s', 'ms', '1..5s']) {
    tt.equal(parseDurationMs(text).ok, false, JSON.stringify(text));
  }
});

t.test('parseByteSize', async (tt) => {
  const cases: Array<[string, number]> = [
    ['0', 0],
    ['7', 7],
    ['3Ki', 3072],
    ['3Mi', 3 * 1024 * 1024],
    ['3K', 3000],
    ['3M', 3_000_000],
  ];
  for (const [text, bytes] of cases) tt.strictSame(parseByteSize(text), { ok: true, value: bytes }, text);
  for (const text of ['', 'Ki', '3 Ki', '3ki', '3k', '3KB', '3MB', '3Gi', '3B', '1e3', '0x10', '-3']) {
    tt.equal(parseByteSize(text).ok, false, JSON.stringify(text));
  }
});
