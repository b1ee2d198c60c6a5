/**
 * The webhook's JSON Patch (RFC 6902) applied to a manifest's YAML, operation by operation:
 * the nodes the patch does not touch stay as they were, with their comments and styles.
 *
 * A pod's YAML may hold what its JSON does not show: aliases (`template: *t`), merge keys,
 * anchors other places use, and null where the pod has nothing (`metadata:` left empty).
 * Before an operation edits a node, what it reaches through an alias or a merge key becomes
 * the node's own copy, and every other alias to a node it changes becomes a copy of that
 * node as it was: an edit changes this pod and nothing else. Null on the way is an empty
 * mapping, as it is to the API server.
 */
import type { Operation } from 'fast-json-patch';
import { Pair, YAMLMap, isAlias, isMap, isScalar, isSeq } from 'yaml';
import type { Alias, Document, Node, YAMLSeq } from 'yaml';
import { aliasUses, isMergePair } from './yaml-aliases.js';
import type { AliasUse } from './yaml-aliases.js';
import { Copier, YamlEditError, keepComments, keyText } from './yaml-copies.js';
import { quoteForYaml11 } from './yaml-strings.js';
import type { PathSegment } from './workloads.js';

export { YamlEditError } from './yaml-copies.js';

type Collection = YAMLMap | YAMLSeq;

/** Where an operation applies: the collection that holds the target, and the target's key there. */
interface Target {
  parent: Collection;
  key: string;
}

/** Edits one document; made once per document, before its first edit. */
export class YamlPatcher {
  readonly #document: Document;
  readonly #aliases: Map<Alias, AliasUse>;
  readonly #copier: Copier;
  /** The aliases of each node, and each alias's place in the document: an edit looks up only the nodes it changes. */
  readonly #bySource = new Map<Node, Alias[]>();
  readonly #order = new Map<Alias, number>();

  constructor(document: Document) {
    this.#document = document;
    this.#aliases = aliasUses(document);
    this.#copier = new Copier(this.#aliases);
    for (const [alias, use] of this.#aliases) {
      this.#order.set(alias, this.#order.size);
      const list = this.#bySource.get(use.source);
      if (list === undefined) this.#bySource.set(use.source, [alias]);
      else list.push(alias);
    }
  }

  /** Expands, in document order, the aliases still standing whose source is one of `nodes` (but those merged into `except`). */
  #expandAliasesOf(nodes: Iterable<unknown>, except?: YAMLMap): void {
    const found: Alias[] = [];
    for (const node of nodes) {
      for (const alias of this.#bySource.get(node as Node) ?? []) {
        const use = this.#aliases.get(alias);
        if (use !== undefined && (except === undefined || use.mergeInto !== except)) found.push(alias);
      }
    }
    found.sort((a, b) => (this.#order.get(a) ?? 0) - (this.#order.get(b) ?? 0));
    for (const alias of found) {
      const use = this.#aliases.get(alias);
      if (use !== undefined) this.#expand(alias, use);
    }
  }

  /**
   * The mapping's merge keys replaced by the pairs they merge in. A merge key's value may hold
   * anchors other places use (`<<: &base {…}`): those aliases become copies first, since the
   * value leaves the document.
   */
  #flatten(map: YAMLMap): void {
    // (The merge's own sources go with it.)
    if (this.#aliases.size > 0) this.#expandAliasesOf(map.items.filter(isMergePair).flatMap((pair) => subtree(pair.value)), map);
    this.#copier.flatten(map);
  }

  /** Applies `ops`, whose paths start at `base` (the pod's place in the document). */
  apply(base: readonly PathSegment[], ops: readonly Operation[]): void {
    for (const op of ops) this.#applyOne(base, op);
  }

  #applyOne(base: readonly PathSegment[], op: Operation): void {
    const path = [...base.map(String), ...pointerSegments(op.path)];
    switch (op.op) {
      case 'add':
      case 'replace':
        this.#put(this.#target(path, op.op), this.#newNode(op.value), op.op);
        return;
      case 'remove':
        this.#take(this.#target(path, 'replace'));
        return;
      case 'move': {
        const node = this.#take(this.#target([...base.map(String), ...pointerSegments(op.from)], 'replace'));
        this.#put(this.#target(path, 'add'), node, 'add');
        return;
      }
      default:
        throw new YamlEditError(`the ${op.op} operation is not supported`);
    }
  }

  /**
   * Where `path` ends, ready to be edited: aliases and merge keys on the way made copies,
   * other aliases to what the edit changes expanded, missing or null mappings on the way
   * made empty mappings. `replace`: the target must exist, and is replaced or removed; `add`:
   * a list item is inserted before the target, a mapping's value is set.
   */
  #target(path: readonly string[], mode: 'add' | 'replace'): Target {
    const last = path[path.length - 1];
    if (last === undefined) throw new YamlEditError('an operation on the whole document');
    const root = this.#document.contents;
    if (!isMap(root) && !isSeq(root)) throw new YamlEditError('the document is not a mapping');
    // First what keeps every value as it is: the collections on the way, unshared.
    const onPath: Collection[] = [root];
    let current: Collection = root;
    let missing = path.length - 1;
    for (const [i, segment] of path.slice(0, -1).entries()) {
      const child = this.#ownChild(current, segment);
      if (child === undefined || isNull(child)) {
        missing = i;
        break;
      }
      if (!isMap(child) && !isSeq(child)) throw new YamlEditError(`/${path.slice(0, i + 1).join('/')} is not a mapping or a list`);
      onPath.push(child);
      current = child;
    }
    // Then the aliases that would see the edit, while the nodes they refer to are unchanged.
    if (this.#aliases.size > 0) {
      const changed = new Set<unknown>(onPath);
      // What is replaced or removed: a null on the way, a mapping's value, a list item unless one is inserted before it.
      const replaced = missing < path.length - 1 ? childOf(current, path[missing] ?? '') : mode === 'replace' || isMap(current) ? childOf(current, last) : undefined;
      for (const node of subtree(replaced)) changed.add(node);
      this.#expandAliasesOf(changed);
    }
    // Last what changes values: mappings made where the path has none.
    for (const segment of path.slice(missing, -1)) {
      if (!isMap(current)) throw new YamlEditError(`/${path.join('/')}: no list item ${segment}`);
      const made = new YAMLMap();
      const pair = current.items.find((item) => !isMergePair(item) && keyText(item.key) === segment);
      if (pair === undefined) current.items.push(new Pair(this.#newNode(segment), made));
      else {
        keepComments(pair.value, made);
        pair.value = made;
      }
      current = made;
    }
    if (mode === 'replace' && childOf(current, last) === undefined) throw new YamlEditError(`/${path.join('/')} does not exist`);
    return { parent: current, key: last };
  }

  /** The child of a collection on the path, made the collection's own (a copy where it is an alias or merged in). */
  #ownChild(collection: Collection, segment: string): unknown {
    if (isSeq(collection)) {
      const index = listIndex(segment, collection.items.length - 1);
      const item = collection.items[index];
      if (!isAlias(item)) return item;
      const copy = this.#copier.copy(item);
      collection.items[index] = copy;
      this.#aliases.delete(item);
      return copy;
    }
    let pair = ownPair(collection, segment);
    if (pair === undefined && collection.items.some(isMergePair)) {
      this.#flatten(collection);
      pair = ownPair(collection, segment);
    }
    if (pair === undefined || !isAlias(pair.value)) return pair?.value;
    const alias = pair.value;
    pair.value = this.#copier.copy(alias);
    keepComments(alias, pair.value);
    this.#aliases.delete(alias);
    return pair.value;
  }

  /** A node for a value the patch brings: written in full (no aliases), its strings as every YAML reader reads them. */
  #newNode(value: unknown): Node {
    const node = this.#document.createNode(value, { aliasDuplicateObjects: false });
    quoteForYaml11(node);
    return node;
  }

  /** An alias to a node about to change: from now on a copy of that node as it is. */
  #expand(alias: Alias, use: AliasUse): void {
    if (use.mergeInto !== undefined) {
      this.#flatten(use.mergeInto);
      return;
    }
    const copy = this.#copier.copy(use.source);
    keepComments(alias, copy);
    const { parent } = use;
    if (isSeq(parent)) {
      const index = parent.items.indexOf(alias);
      if (index !== -1) parent.items[index] = copy;
    } else if (parent.value === alias) parent.value = copy;
    else if (parent.key === alias) parent.key = copy;
    this.#aliases.delete(alias);
  }

  #put({ parent, key }: Target, node: unknown, op: 'add' | 'replace'): void {
    if (isSeq(parent)) {
      if (key === '-' && op === 'add') parent.items.push(node);
      else if (op === 'add') parent.items.splice(listIndex(key, parent.items.length), 0, node);
      else parent.items[listIndex(key, parent.items.length - 1)] = node;
      return;
    }
    const pair = ownPair(parent, key);
    if (pair === undefined) {
      parent.items.push(new Pair(this.#newNode(key), node));
      return;
    }
    keepComments(pair.value, node);
    pair.value = node;
  }

  /** Removes the target, and gives it back as a copy (no anchor left behind, no alias to resolve elsewhere). */
  #take({ parent, key }: Target): unknown {
    if (isSeq(parent)) {
      const [node] = parent.items.splice(listIndex(key, parent.items.length - 1), 1);
      return this.#copier.copy(node);
    }
    const index = parent.items.findIndex((pair) => !isMergePair(pair) && keyText(pair.key) === key);
    if (index === -1) throw new YamlEditError(`no key ${key} to remove`);
    const [pair] = parent.items.splice(index, 1);
    return this.#copier.copy(pair?.value);
  }
}

/** RFC 6901: the path's keys, `~1` and `~0` read back as `/` and `~`. */
function pointerSegments(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new YamlEditError(`${pointer} is not a JSON pointer`);
  return pointer.slice(1).split('/').map((segment) => segment.replaceAll('~1', '/').replaceAll('~0', '~'));
}

function listIndex(segment: string, max: number): number {
  const index = /^(?:0|[1-9][0-9]*)$/.test(segment) ? Number(segment) : NaN;
  if (!(index >= 0 && index <= max)) throw new YamlEditError(`list index ${segment} is out of range`);
  return index;
}

function ownPair(map: YAMLMap, key: string): Pair | undefined {
  return map.items.find((pair) => !isMergePair(pair) && keyText(pair.key) === key);
}

function childOf(collection: Collection, key: string): unknown {
  if (isSeq(collection)) return /^(?:0|[1-9][0-9]*)$/.test(key) ? collection.items[Number(key)] : undefined;
  return ownPair(collection, key)?.value;
}

function isNull(node: unknown): boolean {
  return node === null || (isScalar(node) && node.value === null);
}

/** The node and every node under it (not through aliases: those it holds leave with it). */
function subtree(node: unknown): Node[] {
  const nodes: Node[] = [];
  const walk = (item: unknown): void => {
    if (isScalar(item)) nodes.push(item);
    else if (isSeq(item)) {
      nodes.push(item);
      for (const child of item.items) walk(child);
    } else if (isMap(item)) {
      nodes.push(item);
      for (const pair of item.items) {
        walk(pair.key);
        walk(pair.value);
      }
    }
  };
  walk(node);
  return nodes;
}
