/**
 * Copies of YAML nodes that share nothing with the document they come from: no anchors, and
 * every alias (a merge key's too) expanded. Editing a node an alias refers to, or a node
 * reached through an alias, would otherwise edit every place that uses it.
 */
import { Pair, YAMLMap, YAMLSeq, isAlias, isMap, isScalar, isSeq } from 'yaml';
import type { Alias, Node, Scalar } from 'yaml';
import { isMergePair } from './yaml-aliases.js';
import type { AliasUse } from './yaml-aliases.js';

/** The manifest cannot be edited as the patch says (a bug, or YAML the patch does not fit). */
export class YamlEditError extends Error {
  override readonly name = 'YamlEditError';
}

type Styled = Pick<Node, 'comment' | 'commentBefore' | 'spaceBefore'>;

/** Comments and blank lines of `from` given to `to`, where `to` has none of its own. */
export function keepComments(from: unknown, to: unknown): void {
  if (!isScalar(from) && !isMap(from) && !isSeq(from) && !isAlias(from)) return;
  if (!isScalar(to) && !isMap(to) && !isSeq(to)) return;
  const source: Styled = from;
  const target: Styled = to;
  if (target.commentBefore == null && source.commentBefore != null) target.commentBefore = source.commentBefore;
  if (target.comment == null && source.comment != null) target.comment = source.comment;
  if (target.spaceBefore !== true && source.spaceBefore === true) target.spaceBefore = true;
}

export class Copier {
  readonly #aliases: Map<Alias, AliasUse>;

  constructor(aliases: Map<Alias, AliasUse>) {
    this.#aliases = aliases;
  }

  /** What an alias stands for. */
  resolve(node: unknown): unknown {
    if (!isAlias(node)) return node;
    const source = this.#aliases.get(node)?.source;
    if (source === undefined) throw new YamlEditError(`alias *${node.source} has no anchor before it`);
    return source;
  }

  /** A copy of `node` with the same value, comments and styles, without anchors or aliases. */
  copy(node: unknown): unknown {
    const from = this.resolve(node);
    if (isScalar(from)) {
      // Every field, the merge key's marker included; a scalar holds no other node.
      const copy = from.clone() as Scalar;
      delete copy.anchor;
      return copy;
    }
    if (isSeq(from)) {
      const copy = new YAMLSeq();
      copy.items = from.items.map((item) => this.copy(item));
      return styled(from, copy);
    }
    if (isMap(from)) {
      const copy = new YAMLMap();
      copy.items = from.items.map((pair) => new Pair(this.copy(pair.key), this.copy(pair.value)));
      return styled(from, copy);
    }
    return from;
  }

  /**
   * Replaces the merge keys of `map` with the pairs they bring (copies), where the map does
   * not set those keys itself: the same value, with nothing shared.
   */
  flatten(map: YAMLMap): void {
    if (!map.items.some(isMergePair)) return;
    const own = new Set(map.items);
    const items = this.#effectivePairs(map).map((pair) => (own.has(pair) ? pair : new Pair(this.copy(pair.key), this.copy(pair.value))));
    for (const pair of map.items) if (isMergePair(pair)) this.#forget(pair.value);
    map.items = items;
  }

  /** The pairs a mapping holds once merged: its own, and those merged in that it does not set, the first source first. */
  #effectivePairs(map: YAMLMap): Pair[] {
    const own = new Set(map.items.filter((pair) => !isMergePair(pair)).map((pair) => keyText(pair.key)));
    const merged = new Set<string>();
    const pairs: Pair[] = [];
    for (const pair of map.items) {
      if (!isMergePair(pair)) {
        pairs.push(pair);
        continue;
      }
      for (const source of this.#mergeSources(pair.value)) {
        for (const inherited of this.#effectivePairs(source)) {
          const key = keyText(inherited.key);
          if (key === undefined || own.has(key) || merged.has(key)) continue;
          merged.add(key);
          pairs.push(inherited);
        }
      }
    }
    return pairs;
  }

  #mergeSources(value: unknown): YAMLMap[] {
    const resolved = this.resolve(value);
    const sources = isSeq(resolved) ? resolved.items.map((item) => this.resolve(item)) : [resolved];
    return sources.map((source) => {
      if (!isMap(source)) throw new YamlEditError('a merge key (<<) refers to something other than a mapping');
      return source;
    });
  }

  /** Aliases that leave the document with `node`: no longer to be expanded. */
  #forget(node: unknown): void {
    if (isAlias(node)) this.#aliases.delete(node);
    else if (isSeq(node)) for (const item of node.items) this.#forget(item);
  }
}

function styled<T extends YAMLMap | YAMLSeq>(from: YAMLMap | YAMLSeq, to: T): T {
  if (from.flow !== undefined) to.flow = from.flow;
  if (from.tag !== undefined) to.tag = from.tag;
  keepComments(from, to);
  return to;
}

/** A mapping key as the JSON key it reads as; undefined for keys that are not scalars. */
export function keyText(key: unknown): string | undefined {
  return isScalar(key) && typeof key.value !== 'symbol' ? String(key.value) : undefined;
}
