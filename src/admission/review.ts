/** The AdmissionReview envelope (admission.k8s.io v1 and v1beta1 share this shape). */
export const REVIEW_API_VERSIONS = ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'] as const;
export type ReviewApiVersion = (typeof REVIEW_API_VERSIONS)[number];

export interface GroupVersionKind { group: string; version: string; kind: string }

export interface AdmissionRequest {
  uid: string;
  kind?: GroupVersionKind;
  resource?: { group: string; version: string; resource: string };
  subResource?: string;
  name?: string;
  namespace?: string;
  operation?: string;
  object?: unknown;
  dryRun?: boolean;
}

export interface AdmissionReview {
  apiVersion: ReviewApiVersion;
  kind: 'AdmissionReview';
  request: AdmissionRequest;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  patchType?: 'JSONPatch';
  /** base64 of an RFC 6902 JSON Patch. */
  patch?: string;
  status?: { code: number; reason: string; message: string };
  warnings?: string[];
  auditAnnotations?: Record<string, string>;
}

export interface AdmissionReviewResponse {
  apiVersion: ReviewApiVersion;
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

/** JSON Schema of what we accept on POST /pods; anything else is a 400 that says what is wrong. */
export const admissionReviewSchema = {
  type: 'object',
  required: ['apiVersion', 'kind', 'request'],
  properties: {
    apiVersion: { type: 'string', enum: [...REVIEW_API_VERSIONS] },
    kind: { type: 'string', const: 'AdmissionReview' },
    request: {
      type: 'object',
      required: ['uid'],
      properties: {
        uid: { type: 'string', minLength: 1, maxLength: 256 },
        kind: {
          type: 'object',
          required: ['kind'],
          properties: { group: { type: 'string' }, version: { type: 'string' }, kind: { type: 'string' } },
        },
        subResource: { type: 'string' },
        name: { type: 'string' },
        // Both are in every admission's log line: bounded as the API server bounds them (a
        // namespace is a DNS label; operations are CREATE, UPDATE, DELETE, CONNECT).
        namespace: { type: 'string', maxLength: 63 },
        operation: { type: 'string', maxLength: 32 },
        dryRun: { type: 'boolean' },
      },
    },
  },
} as const;

export function reviewResponse(apiVersion: ReviewApiVersion, response: AdmissionResponse): AdmissionReviewResponse {
  return { apiVersion, kind: 'AdmissionReview', response };
}

/**
 * The answer as JSON text: what JSON.stringify writes for `reviewResponse` (for a response
 * whose fields stand in the order decideAdmission gives them), each field written in turn.
 * The patch (base64: no character needs a JSON escape) is placed as it is rather than
 * scanned again: it is most of the answer. A new field of AdmissionResponse must be added
 * here (the test's Required<AdmissionResponse> makes that a type error until it is).
 */
export function reviewResponseJson(apiVersion: ReviewApiVersion, response: AdmissionResponse): string {
  let text = `{"apiVersion":${JSON.stringify(apiVersion)},"kind":"AdmissionReview","response":{"uid":${JSON.stringify(response.uid)},"allowed":${response.allowed}`;
  if (response.patchType !== undefined) text += `,"patchType":${JSON.stringify(response.patchType)}`;
  if (response.patch !== undefined) text += `,"patch":"${response.patch}"`;
  if (response.status !== undefined) text += `,"status":${JSON.stringify(response.status)}`;
  if (response.auditAnnotations !== undefined) text += `,"auditAnnotations":${JSON.stringify(response.auditAnnotations)}`;
  if (response.warnings !== undefined) text += `,"warnings":${JSON.stringify(response.warnings)}`;
  return `${text}}}`;
}

/**
 * What makes a review inconsistent in a way the API server never sends: the pod's own
 * `metadata.namespace` differs from `request.namespace`. Such a review is hand-made (a
 * caller probing another namespace's objects), so it is refused as a bad request.
 */
export function reviewInconsistency(request: AdmissionRequest): string | undefined {
  const object = request.object;
  const metadata = typeof object === 'object' && object !== null ? (object as Record<string, unknown>)['metadata'] : undefined;
  const own = typeof metadata === 'object' && metadata !== null ? (metadata as Record<string, unknown>)['namespace'] : undefined;
  if (typeof own !== 'string' || own === '' || request.namespace === undefined || request.namespace === '' || own === request.namespace) return undefined;
  const shown = (text: string) => JSON.stringify(text.slice(0, 64));
  return `invalid AdmissionReview: request.namespace ${shown(request.namespace)} differs from the pod's metadata.namespace ${shown(own)}`;
}
