/**
 * Manifests as `inject` reads and writes them: files, directories (recursive) and stdin,
 * each split into its YAML/JSON documents, kept with their source text so that a document
 * nothing changes is written back byte for byte.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { Document, LineCounter, YAMLParseError, isCollection, isMap, isScalar, isSeq, parseAllDocuments } from 'yaml';
import type { ScalarTag, Tags } from 'yaml';
import { aliasUses, expandedSize, expandedValue } from './yaml-aliases.js';
import { escapingStrings, quoteForYaml11 } from './yaml-strings.js';
import { objectsOf } from './workloads.js';

/** The input cannot be used (unreadable path, not YAML or JSON): exit 2, nothing written. */
export class ManifestError extends Error {
  override readonly name = 'ManifestError';
}

export interface ManifestDocument {
  /** The file it came from, `-` for stdin. */
  source: string;
  /** 1-based position among the documents of its source. */
  position: number;
  /** The document's own text, as read. */
  text: string;
  /** The parsed document: edited in place when the document changes. */
  yaml: Document;
  /** The document's value as plain data (a Kubernetes object). */
  value: Record<string, unknown>;
}

const MANIFEST_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

/**
 * Every document of every path, in the order given (a directory's files sorted by name).
 * Stdin given as bytes is decoded as files are (invalid UTF-8 refused); given as text, it is
 * taken as it is.
 */
export async function readManifests(paths: readonly string[], readStdin: () => Promise<string | Uint8Array>): Promise<ManifestDocument[]> {
  const documents: ManifestDocument[] = [];
  let stdinRead = false;
  for (const path of paths) {
    if (path === '-') {
      if (stdinRead) throw new ManifestError('-f - (stdin) can be given once');
      stdinRead = true;
      const input = await readStdin();
      documents.push(...splitDocuments('-', typeof input === 'string' ? input : utf8Text('stdin', input)));
      continue;
    }
    for (const file of await filesOf(path)) documents.push(...splitDocuments(file, await readText(file)));
  }
  return documents;
}

async function filesOf(path: string): Promise<string[]> {
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    throw new ManifestError(`cannot read ${path}: ${reason(error)}`);
  }
  if (!info.isDirectory()) return [path];
  let entries;
  try {
    entries = await readdir(path, { withFileTypes: true });
  } catch (error) {
    throw new ManifestError(`cannot read directory ${path}: ${reason(error)}`);
  }
  const files: string[] = [];
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const child = join(path, entry.name);
    if (entry.isDirectory()) files.push(...(await filesOf(child)));
    else if (MANIFEST_EXTENSIONS.has(extname(entry.name).toLowerCase())) files.push(child);
  }
  return files;
}

async function readText(file: string): Promise<string> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (error) {
    throw new ManifestError(`cannot read ${file}: ${reason(error)}`);
  }
  return utf8Text(file, bytes);
}

/**
 * The bytes as UTF-8 text, or a ManifestError naming the first line that is not: YAML and
 * JSON manifests are UTF-8, and text decoded with replacement characters would be written
 * back altered. A byte-order mark is kept, as it was read.
 */
function utf8Text(name: string, bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    // A newline byte is never part of a multi-byte sequence: the lines can be tried one by one.
    let line = 1;
    for (let start = 0; start < bytes.length; line++) {
      const newline = bytes.indexOf(0x0a, start);
      const end = newline === -1 ? bytes.length : newline;
      try {
        new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes.subarray(start, end));
      } catch {
        break;
      }
      start = end + 1;
    }
    throw new ManifestError(`${name} is not UTF-8 text (line ${line}); manifests are read and written as UTF-8`);
  }
}

function reason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'EACCES') return 'permission denied';
  if (code === 'EISDIR') return 'is a directory';
  return code ?? (error instanceof Error ? error.message : String(error));
}

/** How messages name a source: its path, or `stdin` for `-`. */
export function sourceName(source: string): string {
  return source === '-' ? 'stdin' : source;
}

/** The documents of one source; empty documents (`---` alone, comments only) are left out. */
export function splitDocuments(source: string, text: string): ManifestDocument[] {
  const all = parsedDocuments(text);
  const documents: ManifestDocument[] = [];
  all.forEach(({ yaml, text: own, parsed }, i) => {
    const position = i + 1;
    const where = all.length > 1 ? `${sourceName(source)}, document ${position}` : sourceName(source);
    const error = yaml.errors[0];
    if (error !== undefined) {
      const at = error.linePos?.[0];
      // Only the reason and position: the line itself may hold a secret value.
      const detail = unquoted(error.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '') ?? 'invalid');
      const why = error.code === 'DUPLICATE_KEY' ? booleanKeyHint(parsed, error.pos[0]) : '';
      throw new ManifestError(`${where} is not valid YAML or JSON: ${detail}${at ? ` (line ${at.line}, column ${at.col})` : ''}${why}`);
    }
    const value = documentValue(yaml, where);
    if (value === null || value === undefined) return;
    if (typeof value !== 'object' || Array.isArray(value)) {
      throw new ManifestError(`${where} is not a Kubernetes object (a YAML mapping or JSON object), but ${Array.isArray(value) ? 'a list' : `a ${typeof value}`}`);
    }
    documents.push({ source, position, text: own, yaml, value: value as Record<string, unknown> });
  });
  return documents;
}

/**
 * The documents of a text, each with its own text. A document's text runs from where the
 * previous one ended, so comments before it stay with it. Text that is not YAML but JSON
 * objects one after another (`jq '.items[]'` writes them so, with no `---`), which kubectl
 * reads as a JSON stream, is those objects.
 */
function parsedDocuments(text: string): { yaml: Document.Parsed; text: string; parsed: string }[] {
  const all = parseYaml(text);
  if (all.some((yaml) => yaml.errors.length > 0)) {
    const objects = jsonObjects(text)?.map((own) => ({ parsed: parseYaml(own), text: own }));
    if (objects !== undefined && objects.every(({ parsed }) => parsed.length === 1 && parsed[0]?.errors.length === 0)) {
      return objects.flatMap(({ parsed, text: own }) => parsed.map((yaml) => ({ yaml, text: own, parsed: own })));
    }
  }
  let previousEnd = 0;
  return all.map((yaml) => {
    const [, , end] = yaml.range;
    const start = previousEnd;
    previousEnd = end;
    return { yaml, text: text.slice(start, end), parsed: text };
  });
}

/**
 * The yaml package's messages that quote the text, as their words without the quote: a
 * Secret's value that YAML reads as something else (`password: *s3cret` an alias,
 * `|s3cret` a block scalar header, `!s3cret` a tag, `"s3\Ucret"` an escape) would otherwise
 * be written to stderr, and so into CI logs.
 */
const QUOTING: ReadonlyArray<readonly [RegExp, string]> = [
  [/^(Block scalar header includes extra characters|Not a YAML token|Could not resolve tag|Not a valid tag|Unresolved tag|Ordered maps must not include duplicate keys|Unresolved alias \(the anchor must be set before the alias\)|Unknown directive|Unsupported YAML version|Invalid escape sequence)(?!\w)[\s\S]*$/, '$1'],
  [/^The [\s\S]* tag has no suffix$/, 'A tag has no suffix'],
  [/^Verbatim tags aren't resolved, so [\s\S]* is invalid\.$/, "Verbatim tags aren't resolved"],
  [/^Unexpected (?!, in |empty item in )[\s\S]+ in ([a-z ]+)$/, 'Unexpected text in $1'],
  // An unexpected token at the top of a document: the parser's message, then the token's text.
  [/^([^"]*?): "[\s\S]*$/, '$1'],
];

function unquoted(message: string): string {
  for (const [pattern, replacement] of QUOTING) if (pattern.test(message)) return message.replace(pattern, replacement);
  return message;
}

/**
 * Why a key at `offset` of `text` repeats one that looks different: y, yes, on and true (any
 * of their cases) are all the key "true" to kubectl, n, no, off and false "false", and it keeps
 * only the last. Empty for other keys.
 */
function booleanKeyHint(text: string, offset: number): string {
  const key = /^[^\s:,{}[\]]+/.exec(text.slice(offset, offset + 16))?.[0];
  if (key === undefined) return '';
  const value = BOOL_11.test(key) ? bool11(key) : /^(?:true|True|TRUE|false|False|FALSE)$/.test(key) ? key.toLowerCase() === 'true' : undefined;
  return value === undefined ? '' : `: kubectl reads the key ${key} as "${String(value)}" (YAML 1.1), as another key of this mapping`;
}

function parseYaml(text: string): Document.Parsed[] {
  // merge: YAML 1.1 merge keys (`<<: *base`), which kubectl accepts.
  // customTags: YAML 1.1 as kubectl reads and writes it (see KUBECTL_TAGS).
  // uniqueKeys: checked here instead (see duplicateKeyError).
  const lineCounter = new LineCounter();
  // logLevel: no process warning (they quote keys, and a key may be a mapping of values).
  const parsed = parseAllDocuments(text, { prettyErrors: true, uniqueKeys: false, merge: true, customTags: KUBECTL_TAGS, lineCounter, logLevel: 'error' });
  const documents = Array.isArray(parsed) ? parsed : [];
  for (const document of documents) {
    const error = duplicateKeyError(document, lineCounter);
    if (error === undefined) continue;
    const after = document.errors.findIndex((other) => other.pos[0] > error.pos[0]);
    document.errors.splice(after < 0 ? document.errors.length : after, 0, error);
  }
  return documents;
}

/**
 * A key written twice in a mapping is an error, as kustomize says (readers differ on which one
 * counts, so no output could be right): the first such key of the document, as the yaml
 * package's `uniqueKeys` reports it (keys equal when they are one node or scalars of one
 * value). That option compares each key with every key before it in its mapping, quadratic in
 * the keys (20,000 took 1.2 s, and a 2 MiB mapping would take minutes); here each mapping's
 * scalar values go into a set.
 */
function duplicateKeyError(document: Document.Parsed, lineCounter: LineCounter): YAMLParseError | undefined {
  let first: number | undefined;
  const walk = (node: unknown): void => {
    if (isSeq(node)) for (const item of node.items) walk(item);
    if (!isMap(node)) return;
    const seen = new Set<unknown>();
    for (const pair of node.items) {
      const key = pair.key;
      walk(key);
      if (isScalar(key) && !Number.isNaN(key.value)) {
        if (seen.has(key.value) && key.range !== undefined && key.range !== null && (first === undefined || key.range[0] < first)) first = key.range[0];
        seen.add(key.value);
      }
      walk(pair.value);
    }
  };
  walk(document.contents);
  if (first === undefined) return undefined;
  const error = new YAMLParseError([first, first + 1], 'DUPLICATE_KEY', 'Map keys must be unique');
  const start = lineCounter.linePos(first);
  error.linePos = [start, lineCounter.linePos(first + 1)];
  error.message += ` at line ${start.line}, column ${start.col}`;
  return error;
}

/** The texts of the JSON objects `text` holds one after another (white space between them goes with the next), or undefined if it holds anything else. */
function jsonObjects(text: string): string[] | undefined {
  const objects: string[] = [];
  let start = 0;
  let depth = 0;
  let inString = false;
  let escaped = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i] as string;
    if (inString) {
      if (escaped) escaped = false;
      else if (char === '\\') escaped = true;
      else if (char === '"') inString = false;
    } else if (char === '"' && depth > 0) inString = true;
    else if (char === '{' || (char === '[' && depth > 0)) depth++;
    else if ((char === '}' || char === ']') && depth > 0) {
      depth--;
      if (depth === 0) {
        // Each must be JSON, as kubectl's decoder wants it: a YAML flow mapping (unquoted or
        // single-quoted keys, a trailing comma, 0644) would be read here and refused there.
        if (!isJson(text.slice(start, i + 1))) return undefined;
        objects.push(text.slice(start, i + 1));
        start = i + 1;
      }
    } else if (depth === 0 && !/\s/.test(char)) return undefined;
  }
  if (depth > 0 || objects.length < 2) return undefined;
  objects[objects.length - 1] += text.slice(start);
  return objects;
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * Tags before the schema's: a plain `0644` is octal (420) and `yes` true to kubectl's YAML
 * 1.1, not decimal 644 and a string; strings with characters it reads otherwise are written
 * escaped.
 */
const KUBECTL_TAGS = (tags: Tags): Tags => [YAML_11_OCTAL, YAML_11_BOOL, escapingStrings(tags), ...tags];

/**
 * YAML 1.1's octal integers (`0644`, as kubectl reads a file mode), read and written back as
 * such: the YAML 1.2 core schema reads them as decimal and would write `644`, another mode.
 * Its own format, so that only the numbers written so are written so.
 */
const YAML_11_OCTAL: ScalarTag = {
  tag: 'tag:yaml.org,2002:int',
  format: 'OCT11',
  default: true,
  identify: (value) => typeof value === 'number' && Number.isInteger(value),
  test: /^[-+]?0[0-7_]+$/,
  resolve: octal11,
  // As written, while it still says the value.
  stringify: ({ value, source }) =>
    source !== undefined && /^[-+]?0[0-7_]+$/.test(source) && octal11(source) === value ? source : typeof value === 'number' ? `${value < 0 ? '-' : ''}0${Math.abs(value).toString(8)}` : String(value),
};

/** YAML 1.1's other spellings of booleans (`yes`, `off`, `y`: `stdin: yes` is true to kubectl), written back as they were. */
const BOOL_11 = /^(?:y|Y|yes|Yes|YES|on|On|ON|n|N|no|No|NO|off|Off|OFF)$/;
const YAML_11_BOOL: ScalarTag = {
  tag: 'tag:yaml.org,2002:bool',
  format: 'BOOL11',
  default: true,
  identify: (value) => typeof value === 'boolean',
  test: BOOL_11,
  resolve: bool11,
  stringify: ({ value, source }) => (source !== undefined && BOOL_11.test(source) && bool11(source) === value ? source : String(value)),
};

function bool11(text: string): boolean {
  return /^(?:y|yes|on)$/i.test(text);
}

function octal11(text: string): number {
  const digits = text.replaceAll('_', '');
  return (digits.startsWith('-') ? -1 : 1) * parseInt(digits.replace(/^[-+]/, ''), 8);
}

/**
 * Aliases may expand a document to at most this many nodes, or ten times the nodes written
 * if that is more: charts may use one anchor hundreds of times, while an alias bomb (each
 * level aliasing the one before several times) grows exponentially past any such bound.
 */
export const MAX_EXPANDED_NODES = 100_000;
const MAX_EXPANSION_RATIO = 10;

/** A document's value as plain data: a tree, each alias expanded into its own copy. */
function documentValue(yaml: Document, where: string): unknown {
  const aliases = aliasUses(yaml);
  try {
    if (aliases.size === 0) return yaml.toJS({ maxAliasCount: -1 });
    const written = expandedSize(yaml.contents, new Map(), Infinity) as number;
    const limit = Math.max(MAX_EXPANDED_NODES, MAX_EXPANSION_RATIO * written);
    const size = expandedSize(yaml.contents, aliases, limit);
    if (typeof size !== 'number') {
      throw new ManifestError('tooLarge' in size
        ? `${where}: its aliases expand it to more than ${limit} nodes (refused: an alias bomb could exhaust memory)`
        : `${where}: alias *${size.cycle} is inside the node it refers to (its value would never end)`);
    }
    // Without the copy, every alias of an anchor would be the same object: editing one pod
    // would edit the others.
    return unshared(expandedValue(yaml));
  } catch (error) {
    if (error instanceof ManifestError) throw error;
    // The library's message only (a RangeError: too deeply nested), never a stack trace, nor what it quotes.
    throw new ManifestError(`${where} cannot be read: ${unquoted(error instanceof Error ? error.message : String(error))}`);
  }
}

function unshared(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(unshared);
  // Scalars, and what a %YAML 1.1 document's tags make (Date, Map, Set, bytes) as they are.
  if (typeof value !== 'object' || value === null || Object.getPrototypeOf(value) !== Object.prototype) return value;
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) Object.defineProperty(copy, key, { value: unshared(item), enumerable: true, writable: true, configurable: true });
  return copy;
}

/**
 * The documents as one YAML stream: those `changed` does not hold as they were read, the
 * others rendered from their edited YAML (comments and order of what injection does not
 * touch kept).
 */
export function writeYamlStream(documents: readonly ManifestDocument[], changed: ReadonlySet<ManifestDocument>): string {
  const bodies = documents.map((document) => {
    const body = withoutMarker(changed.has(document) ? changedText(document) : document.text);
    return body.endsWith('\n') ? body : `${body}\n`;
  });
  // kubectl reads a stream that starts with `{` as JSON objects, and fails at the first `---`.
  const start = bodies.length > 1 && /^\s*\{/.test(bodies[0] ?? '') ? '---\n' : '';
  return start + bodies.map((body, i) => (i === 0 ? body : `${separator(bodies[i - 1] ?? '', body)}${body}`)).join('');
}

/**
 * What goes between two documents: `---`, or, before one that starts with directives
 * (`%YAML 1.2`, `%TAG`: it has its own `---` after them), the `...` that must end the
 * previous document first.
 */
function separator(previous: string, body: string): string {
  if (!/^(?:[ \t]*(?:#.*)?\r?\n)*%/.test(body)) return '---\n';
  return /(?:^|\n)\.\.\.[ \t]*(?:#.*)?\r?\n$/.test(previous) ? '' : '...\n';
}

/**
 * A changed document as YAML: its edited tree (comments and styles of the untouched parts
 * kept), or, for a document written as JSON (a flow mapping at the root), plain block YAML.
 */
function changedText(document: ManifestDocument): string {
  const root = document.yaml.contents;
  if (isCollection(root) && root.flow === true) {
    const written = new Document(document.value, { aliasDuplicateObjects: false, customTags: KUBECTL_TAGS });
    quoteForYaml11(written.contents);
    return written.toString({ lineWidth: 0 });
  }
  return document.yaml.toString({ lineWidth: 0 });
}

/** A document's text without the blank lines and `---` line it starts with (the stream puts one between documents). */
function withoutMarker(text: string): string {
  return text.replace(/^(?:[ \t]*\r?\n)*/, '').replace(/^---[ \t]*(\r?\n|$)/, '');
}

/**
 * The documents' values as JSON: the one object, or a `List` of them (as kubectl prints
 * several), where a List gives its items (kubectl cannot read a List in a List).
 */
export function writeJson(values: readonly Record<string, unknown>[]): string {
  const value = values.length === 1 ? values[0] : { apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: '' }, items: values.flatMap((item) => objectsOf(item).map((object) => object.value)) };
  return `${JSON.stringify(value, null, 2)}\n`;
}
