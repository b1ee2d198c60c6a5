/** Strings inject writes read back as strings in YAML 1.1 (kubectl) as in YAML 1.2. */
import t from 'tap';
import { Document } from 'yaml';
import { quoteForYaml11 } from '../../src/manifests/yaml-strings.js';

function written(value: string): string {
  const document = new Document([value]);
  quoteForYaml11(document.contents);
  return document.toString().slice(2, -1);
}

t.test('what YAML 1.1 reads as a boolean, null, number, timestamp or merge key is quoted', async (t) => {
  for (const text of ['on', 'Off', 'yes', 'NO', 'y', 'n', '~', 'Null', '0777', '0b101', '1_000', '0x1F', '+12', '1:20', '190:20:30.15', '.5', '-.inf', '.NaN', '2001-12-14', '2001-12-14t21:59:43.10-05:00', '2001-12-14 21:59:43.10 -5', '<<', '=']) {
    t.equal(written(text), `"${text}"`, text);
  }
});

t.test('other strings are written as the YAML writer writes them', async (t) => {
  for (const text of ['plain', '--provider=aws', '/helper/bin', '10m', '50Mi', 'copy', 'yesterday', 'v1.2.3', '2001-12', 'arn:aws:ssm:eu-west-1:1:parameter/x']) t.equal(written(text), text, text);
  // The writer quotes these itself (they are not strings in YAML 1.2 either).
  t.equal(written('true'), '"true"');
  t.equal(written('42'), '"42"');
  t.equal(written('a: b'), '"a: b"');
});

t.test('what kubectl reads as a number beyond the YAML 1.1 spec is quoted too', async (t) => {
  // kubectl's reader (go-yaml v2) drops every `_` of a word that starts with a digit or sign
  // and parses the rest with Go's base prefixes: 0X, 0O, 0B in either case, after a sign too.
  for (const text of ['0X1F', '0O17', '0B101', '-0o17', '+0O17', '-0B1', '0_x1F', '-_1', '1_0e5', '.5_1', '.51_0e5']) t.equal(written(text), `"${text}"`, text);
  for (const text of ['0x', '0o', '_1', '1-2', '0X1G', '._5', '._']) t.equal(written(text), text, `${text} stays plain`);
});
