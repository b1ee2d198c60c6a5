/** The answer's JSON text: the same review JSON.stringify would give, the patch placed as it is. */
import fc from 'fast-check';
import t from 'tap';
import { reviewInconsistency, reviewResponse, reviewResponseJson } from '../../src/admission/review.js';
import type { AdmissionResponse } from '../../src/admission/review.js';

const text = fc.string({ unit: 'binary', maxLength: 40 });
const responseArb = fc.record(
  {
    uid: text,
    allowed: fc.boolean(),
    patchType: fc.constant('JSONPatch' as const),
    patch: fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes).toString('base64')),
    warnings: fc.array(text, { maxLength: 3 }),
    auditAnnotations: fc.dictionary(text, text, { maxKeys: 3 }),
    status: fc.record({ code: fc.constantFrom(403, 500), reason: text, message: text }),
  },
  { requiredKeys: ['uid', 'allowed'] },
);

t.test('parses to exactly what reviewResponse gives, for every field and character', async (t) => {
  fc.assert(
    fc.property(fc.constantFrom('admission.k8s.io/v1' as const, 'admission.k8s.io/v1beta1' as const), responseArb, (apiVersion, response) => {
      const json = reviewResponseJson(apiVersion, response as AdmissionResponse);
      t.strictSame(JSON.parse(json), JSON.parse(JSON.stringify(reviewResponse(apiVersion, response as AdmissionResponse))));
    }),
    { numRuns: 300 },
  );
});

t.test('every field, in the order decideAdmission builds them: the text JSON.stringify writes', async (t) => {
  // Required<…>: a new field of AdmissionResponse fails the type check here until it is written.
  const full: Required<AdmissionResponse> = {
    uid: 'u"\ud800',
    allowed: true,
    patchType: 'JSONPatch',
    patch: Buffer.from('[{"op":"add"}]').toString('base64'),
    status: { code: 500, reason: 'InternalError', message: 'a\u2028b' },
    auditAnnotations: { 'injected-containers': 'app', 'secret-references': '{"app":["arn:aws:ssm:x"]}' },
    warnings: ['w "1"', '\n'],
  };
  t.equal(reviewResponseJson('admission.k8s.io/v1beta1', full), JSON.stringify(reviewResponse('admission.k8s.io/v1beta1', full)));
  const { patchType: _type, patch: _patch, ...denied } = full;
  t.equal(reviewResponseJson('admission.k8s.io/v1', { ...denied, allowed: false }), JSON.stringify(reviewResponse('admission.k8s.io/v1', { ...denied, allowed: false })));
});

t.test('without a patch it is JSON.stringify of the review', async (t) => {
  const response: AdmissionResponse = { uid: 'u"1', allowed: false, status: { code: 403, reason: 'Forbidden', message: 'pod "x": \u2028 no' } };
  t.equal(reviewResponseJson('admission.k8s.io/v1', response), JSON.stringify(reviewResponse('admission.k8s.io/v1', response)));
});

t.test('a namespace that differs from the request\'s is quoted in at most 64 characters', async (t) => {
  const long = `n${'x'.repeat(10_000)}`;
  const problem = reviewInconsistency({ uid: 'u', namespace: 'prod', object: { metadata: { namespace: long } } }) ?? '';
  t.equal(problem, `invalid AdmissionReview: request.namespace "prod" differs from the pod's metadata.namespace "${long.slice(0, 64)}"`);
  t.equal(reviewInconsistency({ uid: 'u', namespace: 'prod', object: { metadata: { namespace: 'prod' } } }), undefined);
});
