import type { Operation } from 'fast-json-patch';
import type { Pod } from './pod.js';
import type { PodMutation } from './pod-mutation.js';
import { ANNOTATION_STATUS } from './annotations.js';
import { sharedJson } from './shared-json.js';

/** RFC 6901: `~` and `/` in a key are escaped. */
export function pointerSegment(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}

/** Where the status annotation stands in a pod that has annotations. */
const STATUS_PATH = `/metadata/annotations/${pointerSegment(ANNOTATION_STATUS)}`;

/**
 * An RFC 6902 patch that applies `mutation` to `pod` (the object the API server sent).
 * Containers are rewritten before the init container is prepended, so every index
 * refers to the list as it stands when the operation applies.
 */
export function toJsonPatch(pod: Pod, mutation: PodMutation): Operation[] {
  const ops: Operation[] = [];
  for (const wrap of mutation.wraps) {
    const at = `/spec/${wrap.role}/${wrap.index}`;
    ops.push({ op: 'add', path: `${at}/command`, value: wrap.command });
    ops.push({ op: 'add', path: `${at}/args`, value: wrap.args });
    for (const { handler, command } of wrap.handlers) {
      ops.push({ op: 'add', path: `${at}/${handler.path.map(pointerSegment).join('/')}`, value: command });
    }
  }
  for (const mount of mutation.mounts) {
    const at = `/spec/${mount.role}/${mount.index}/volumeMounts`;
    const list = pod.spec[mount.role]?.[mount.index]?.volumeMounts;
    ops.push(list === undefined ? { op: 'add', path: at, value: [mount.mount] } : { op: 'add', path: `${at}/-`, value: mount.mount });
  }
  if (mutation.volume !== undefined) {
    ops.push(pod.spec.volumes === undefined
      ? { op: 'add', path: '/spec/volumes', value: [mutation.volume] }
      : { op: 'add', path: '/spec/volumes/-', value: mutation.volume });
  }
  const init = mutation.initContainer;
  if (init !== undefined && 'add' in init) {
    ops.push(pod.spec.initContainers === undefined
      ? { op: 'add', path: '/spec/initContainers', value: [init.add] }
      : { op: 'add', path: '/spec/initContainers/0', value: init.add });
  } else if (init !== undefined) {
    ops.push({ op: 'move', from: `/spec/initContainers/${init.moveFrom}`, path: '/spec/initContainers/0' });
  }
  if (mutation.status !== undefined) {
    if (pod.metadata === undefined) ops.push({ op: 'add', path: '/metadata', value: { annotations: { [ANNOTATION_STATUS]: mutation.status } } });
    else if (pod.metadata.annotations === undefined) ops.push({ op: 'add', path: '/metadata/annotations', value: { [ANNOTATION_STATUS]: mutation.status } });
    else ops.push({ op: 'add', path: STATUS_PATH, value: mutation.status });
  }
  return ops;
}

/**
 * The patch as JSON text: what JSON.stringify gives for the operations of toJsonPatch
 * (their fields in the order it writes them), each operation written from a template, with
 * the values every admission shares (the init container, the volume) written from the text
 * made once. JSON.stringify serialises only what differs per pod: paths, commands, the
 * status annotation.
 */
export function patchJson(ops: readonly Operation[]): string {
  let text = '';
  for (const op of ops) text += text === '' ? operationJson(op) : `,${operationJson(op)}`;
  return `[${text}]`;
}

function operationJson(op: Operation): string {
  switch (op.op) {
    case 'add':
      if (op.value === undefined) break;
      return `{"op":"add","path":${JSON.stringify(op.path)},"value":${sharedValueJson(op.value) ?? JSON.stringify(op.value)}}`;
    case 'move':
      return `{"op":"move","from":${JSON.stringify(op.from)},"path":${JSON.stringify(op.path)}}`;
  }
  return JSON.stringify(op);
}

/** The text of a shared value, or of a list of one (the initContainers a pod without any gets). */
function sharedValueJson(value: unknown): string | undefined {
  if (!Array.isArray(value)) return sharedJson(value);
  const only = value.length === 1 ? sharedJson(value[0]) : undefined;
  return only === undefined ? undefined : `[${only}]`;
}
