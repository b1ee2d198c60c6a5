/**
 * YAML anchors and aliases in manifests: what each alias stands for, and how large a
 * document becomes once its aliases are expanded (what an alias bomb makes huge).
 */
import { isAlias, isCollection, isPair, visit } from 'yaml';
import type { Alias, Document, Node } from 'yaml';

/**
 * The node each alias of the document stands for: the last node before it with that
 * anchor, as YAML defines it. Empty when the document has no aliases.
 */
export function aliasSources(document: Document): Map<Alias, Node> {
  const anchored = new Map<string, Node>();
  const sources = new Map<Alias, Node>();
  visit(document, {
    Node(_key, node) {
      if (isAlias(node)) {
        const source = anchored.get(node.source);
        if (source !== undefined) sources.set(node, source);
      } else if (node.anchor !== undefined) anchored.set(node.anchor, node);
    },
  });
  return sources;
}

/** Why a document's aliases cannot be expanded. */
export type ExpansionProblem = { tooLarge: true } | { cycle: string };

/**
 * How many nodes `root` holds with every alias expanded, counted without expanding (each
 * anchored node once), or the problem: more than `limit`, or an alias inside the node it
 * refers to (an endless value).
 */
export function expandedSize(root: unknown, sources: ReadonlyMap<Alias, Node>, limit: number): number | ExpansionProblem {
  const sizes = new Map<unknown, number>();
  const open = new Set<unknown>();
  let cycle: string | undefined;
  const size = (node: unknown): number => {
    if (isAlias(node)) {
      const source = sources.get(node);
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
