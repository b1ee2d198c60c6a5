import { Ajv } from 'ajv';
import type { Pod } from '../core/pod.js';

/**
 * Mutating webhooks see a pod before the API server validates it, so the fields the
 * core reads are checked here: a pod of the wrong shape is denied with the reason,
 * never crashes the handler. Fields we do not read are not checked.
 */
const strings = { type: 'array', items: { type: 'string' } };
const keySelector = {
  type: 'object',
  required: ['key'],
  properties: { name: { type: 'string' }, key: { type: 'string' }, optional: { type: 'boolean' } },
};
const execHandler = { type: 'object', properties: { exec: { type: 'object', properties: { command: strings } } } };
const objectSelector = { type: 'object', properties: { name: { type: 'string' }, optional: { type: 'boolean' } } };
const quantities = { type: 'object', additionalProperties: { anyOf: [{ type: 'string' }, { type: 'number' }, { type: 'null' }] } };
const container = {
  type: 'object',
  required: ['name'],
  properties: {
    name: { type: 'string' },
    image: { type: 'string' },
    command: strings,
    args: strings,
    stdin: { type: 'boolean' },
    tty: { type: 'boolean' },
    livenessProbe: execHandler,
    readinessProbe: execHandler,
    startupProbe: execHandler,
    lifecycle: { type: 'object', properties: { postStart: execHandler, preStop: execHandler } },
    env: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name'],
        properties: {
          name: { type: 'string' },
          value: { type: 'string' },
          valueFrom: { type: 'object', properties: { secretKeyRef: keySelector, configMapKeyRef: keySelector } },
        },
      },
    },
    envFrom: {
      type: 'array',
      items: { type: 'object', properties: { prefix: { type: 'string' }, secretRef: objectSelector, configMapRef: objectSelector } },
    },
    volumeMounts: {
      type: 'array',
      items: { type: 'object', required: ['name', 'mountPath'], properties: { name: { type: 'string' }, mountPath: { type: 'string' } } },
    },
    resources: { type: 'object', properties: { requests: quantities, limits: quantities } },
  },
};
const podSchema = {
  type: 'object',
  required: ['spec'],
  properties: {
    metadata: {
      type: 'object',
      properties: {
        name: { type: 'string' },
        generateName: { type: 'string' },
        namespace: { type: 'string' },
        annotations: { type: 'object', additionalProperties: { type: 'string' } },
      },
    },
    spec: {
      type: 'object',
      required: ['containers'],
      properties: {
        containers: { type: 'array', items: container },
        os: { type: 'object', properties: { name: { type: 'string' } } },
        nodeSelector: { type: 'object', additionalProperties: { type: 'string' } },
        initContainers: { type: 'array', items: container },
        volumes: {
          type: 'array',
          items: { type: 'object', required: ['name'], properties: { name: { type: 'string' }, emptyDir: { type: 'object' } } },
        },
      },
    },
  },
};

const validate = new Ajv({ allErrors: false, strict: true }).compile(podSchema);

/** The pod, or a one-line description of what is wrong with its shape. */
export function checkPod(object: unknown): { pod: Pod } | { problem: string } {
  if (validate(object)) return { pod: object as Pod };
  const error = validate.errors?.[0];
  const where = error?.instancePath ? error.instancePath : '/';
  return { problem: `the pod is malformed: ${where} ${error?.message ?? 'is invalid'}` };
}
