/**
 * YAML anchors and aliases in manifests: what each alias stands for and where it stands,
 * and how large a document becomes once its aliases are expanded (what an alias bomb makes
 * huge).
 */
import { isAlias, isCollection, isMap, isPair, isScalar, isSeq } from 'yaml';
import type { Alias, Document, Node, Pair, YAMLMap, YAMLSeq } from 'yaml';

export interface AliasUse {
  /** The node the alias stands for: the last node before it with that anchor, as YAML defines it. */
  source: Node;
  /** What holds the alias: a mapping's pair (as its key or value) or a sequence. */
  parent: Pair | YAMLSeq;
  /** The mapping whose merge key (`<<: *base`, `<<: [*a, *b]`) the alias is a source of. */
  mergeInto?: YAMLMap;
}

/** A merge key (`<<`), as the parser marks it in a document read with merge keys on. */
export function isMergePair(pair: Pair): boolean {
  const key = pair.key;
  if (!isScalar(key)) return false;
  if (typeof key.value === 'symbol') return key.value.description === '<<';
  return key.value === '<<' && (key.type === undefined || key.type === 'PLAIN');
}

/** Every alias of the document, in document order. Empty when it has none. */
export function aliasUses(document: Document): Map<Alias, AliasUse> {
  const anchored = new Map<string, Node>();
  const uses = new Map<Alias, AliasUse>();
  const walk = (node: unknown, parent: Pair | YAMLSeq | undefined, mergeInto: YAMLMap | undefined): void => {
    if (isAlias(node)) {
      const source = anchored.get(node.source);
      if (source !== undefined && parent !== undefined) uses.set(node, { source, parent, ...(mergeInto !== undefined ? { mergeInto } : {}) });
      return;
    }
    if (!isScalar(node) && !isCollection(node)) return;
    if (node.anchor !== undefined) anchored.set(node.anchor, node);
    if (isSeq(node)) for (const item of node.items) walk(item, node, mergeInto);
    if (isMap(node)) {
      for (const pair of node.items) {
        walk(pair.key, pair, undefined);
        walk(pair.value, pair, isMergePair(pair) ? node : undefined);
      }
    }
  };
  walk(document.contents, undefined, undefined);
  return uses;
}

/** Why a document's aliases cannot be expanded. */
export type ExpansionProblem = { tooLarge: true } | { cycle: string };

/**
 * How many nodes `root` holds with every alias expanded, counted without expanding (each
 * anchored node once), or the problem: more than `limit`, or an alias inside the node it
 * refers to (an endless value).
 */
export function expandedSize(root: unknown, uses: ReadonlyMap<Alias, AliasUse>, limit: number): number | ExpansionProblem {
  const sizes = new Map<unknown, number>();
  const open = new Set<unknown>();
  let cycle: string | undefined;
  const size = (node: unknown): number => {
    if (isAlias(node)) {
      const source = uses.get(node)?.source;
      if (source === undefined) return 1;
      if (open.has(source)) {
        cycle ??= node.source;
        return Infinity;
      }
      return size(source);
    }
    if (isPair(node)) return size(node.key) + size(node.value);
    if (!isCollection(node)) return 1;
    const known = sizes.get(node);
    if (known !== undefined) return known;
    open.add(node);
    let total = 1;
    for (const item of node.items) {
      total += size(item);
      if (total > limit) break;
    }
    open.delete(node);
    sizes.set(node, total);
    return total;
  };
  const total = size(root);
  if (cycle !== undefined) return { cycle };
  return total > limit ? { tooLarge: true } : total;
}

/**
 * The document's value with every alias expanded, as `document.toJS()` gives it, in time
 * linear in that value: the library finds the anchor of each alias by going over every anchor
 * and alias before it, quadratic in the aliases (40,000 took 8 s, and 2 MiB of them would
 * take minutes). Each alias is put aside for the node it stands for, in document order (so
 * that a node it stands for holds no alias any more), the document converted without any, and
 * the aliases put back. (Each place a node stands in is converted to values of its own.) An
 * alias whose anchor is not found stays, for the library to refuse.
 */
export function expandedValue(document: Document): unknown {
  const anchored = new Map<string, Node>();
  const undo: Array<() => void> = [];
  const expanded = (node: unknown): unknown => {
    if (isAlias(node)) return anchored.get(node.source) ?? node;
    if (!isScalar(node) && !isCollection(node)) return node;
    if (node.anchor !== undefined) anchored.set(node.anchor, node);
    if (isSeq(node)) {
      node.items.forEach((item, i) => {
        const value = expanded(item);
        if (value !== item) {
          node.items[i] = value;
          undo.push(() => (node.items[i] = item));
        }
      });
    }
    if (isMap(node)) {
      for (const pair of node.items) {
        const { key, value } = pair;
        pair.key = expanded(key);
        pair.value = expanded(value);
        if (pair.key !== key || pair.value !== value) {
          undo.push(() => {
            pair.key = key;
            pair.value = value;
          });
        }
      }
    }
    return node;
  };
  try {
    expanded(document.contents);
    return document.toJS({ maxAliasCount: -1 });
  } finally {
    for (const step of undo) step();
  }
}
