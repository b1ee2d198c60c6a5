/**
 * Strings inject writes, written so that every reader reads them back as strings. This
 * program reads YAML 1.2, but kubectl reads YAML 1.1, where a plain `on`, `yes`, `y`, `0777`,
 * `1_000`, `1:20` or `2001-12-14` is a boolean, a number or a timestamp: written plain, an
 * argument `on` would reach the API server as `true`, and the pod would be refused.
 */
import { Scalar, isNode, isScalar, stringify, visit } from 'yaml';
import type { ScalarTag, Tags } from 'yaml';

/**
 * Plain scalars YAML 1.1 resolves to something other than a string (yaml.org/type: bool,
 * null, int, float, timestamp, merge, value). Written out rather than taken from the `yaml`
 * package's 1.1 schema, whose tags can be changed at run time by other code.
 */
const YAML_11_NOT_STRING = new RegExp(
  '^(?:' +
    [
      'y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF',
      '~|null|Null|NULL',
      '[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+',
      '[-+]?(?:[0-9][0-9_]*)?\\.[0-9.]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\\.[0-9_]*|[-+]?\\.(?:inf|Inf|INF)|\\.(?:nan|NaN|NAN)',
      '[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \\t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\\.[0-9]*)?(?:[ \\t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?',
      '<<|=',
    ].join('|') +
    ')$',
);

/** Gives double quotes to the strings under `node` (or `node` itself) that would be written plain and that YAML 1.1 reads as something else. */
export function quoteForYaml11(node: unknown): void {
  const quote = (scalar: Scalar): void => {
    if (typeof scalar.value === 'string' && scalar.type === undefined && misreadIn11(scalar.value)) scalar.type = Scalar.QUOTE_DOUBLE;
  };
  if (isScalar(node)) quote(node);
  else if (isNode(node)) visit(node, { Scalar: (_key, scalar) => quote(scalar) });
}

/**
 * What kubectl's reader (go-yaml v2) takes for a number besides: a word that starts with a
 * digit or a sign, with every `_` dropped, that Go parses as an integer (base prefixes 0x,
 * 0o, 0b in either case, after a sign too) or as a decimal float; and one that starts with
 * `.` that Go parses as a float (`_` only between digits).
 */
const GO_YAML_NUMBER = /^[-+]?(?:0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|[0-9]+|(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?)$/;
const GO_YAML_DOT_FLOAT = /^\.[0-9](?:_?[0-9])*(?:[eE][-+]?[0-9](?:_?[0-9])*)?$/;

function misreadIn11(text: string): boolean {
  const misread = YAML_11_NOT_STRING.test(text) || (/^[-+0-9]/.test(text) && GO_YAML_NUMBER.test(text.replaceAll('_', ''))) || GO_YAML_DOT_FLOAT.test(text);
  // Only what the writer would leave plain: what it quotes or folds reads back as written.
  return misread && stringify(text, { lineWidth: 0 }) === `${text}\n`;
}

/**
 * Characters kubectl's reader (libyaml, YAML 1.1) does not read as written in any style:
 * U+0085, U+2028 and U+2029 are line breaks to it (folded into a space, or ending a plain
 * scalar), DEL, the C1 controls, U+FFFE and U+FFFF are refused. The `yaml` package writes
 * them as they are, even in double quotes.
 */
const NOT_TEXT_IN_11 = /[\u007f-\u009f\u2028\u2029\ufffe\uffff]/g;
const NAMED_ESCAPES: ReadonlyMap<string, string> = new Map([
  ['\u0085', '\\N'],
  ['\u2028', '\\L'],
  ['\u2029', '\\P'],
]);

/**
 * Whether a multi-line string would be misread as a block scalar: a block scalar's
 * indentation is found from its first lines, where libyaml refuses a tab ("found a tab
 * character where an indentation space is expected") and takes lines of spaces for
 * indentation, dropping those spaces (so does the `yaml` package, for some).
 */
function unsafeAsBlock(value: string): boolean {
  if (!value.includes('\n')) return false;
  const text = value.search(/[^ \t\n]/);
  const head = text === -1 ? value : value.slice(0, text);
  const lineStart = head.lastIndexOf('\n') + 1;
  // The lines before the first line of text, and the blanks that line starts with.
  return /[ \t]/.test(head.slice(0, lineStart)) || head.slice(lineStart).includes('\t') || (text === -1 && head.slice(lineStart) !== '');
}

/**
 * The schema's string tag, but for strings holding such characters, which it writes double
 * quoted with those escaped (JSON's escapes are YAML's too), and for multi-line strings a
 * block scalar would not hold as they are, which it writes double quoted. To put before the
 * schema's tags.
 */
export function escapingStrings(tags: Tags): ScalarTag {
  const string = tags.find((tag): tag is ScalarTag => typeof tag === 'object' && tag.tag === 'tag:yaml.org,2002:str' && tag.collection === undefined);
  if (string?.stringify === undefined) throw new Error('internal: the schema has no string tag');
  const written = string.stringify;
  return {
    ...string,
    stringify(item, ctx, onComment, onChompKeep) {
      const { value } = item;
      if (typeof value !== 'string' || (!value.match(NOT_TEXT_IN_11) && !unsafeAsBlock(value))) return written(item, ctx, onComment, onChompKeep);
      return JSON.stringify(value).replace(NOT_TEXT_IN_11, (char) => NAMED_ESCAPES.get(char) ?? `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
    },
  };
}
