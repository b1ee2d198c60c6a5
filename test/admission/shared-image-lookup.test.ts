/**
 * Image lookups are shared by the admissions of one scope that ask at once. The pull secrets
 * such a lookup reads are not read on behalf of the admission that started it: when that
 * admission's deadline passes, the others must still get the lookup's real answer.
 */
import t from 'tap';
import { decideAdmission } from '../../src/admission/handler.js';
import type { AdmissionDependencies } from '../../src/admission/handler.js';
import type { AdmissionRequest } from '../../src/admission/review.js';
import type { Pod } from '../../src/core/pod.js';
import { registryImageSource } from '../../src/images/registry-source.js';
import type { DataObjectRef, KubeObjectReader, ObjectLookup, ReadOptions } from '../../src/kubernetes/lookup.js';
import { LookupError } from '../../src/kubernetes/lookup.js';
import type { RegistryClient } from '../../src/registry/client.js';
import { RegistryError } from '../../src/registry/errors.js';
import { SETTINGS } from '../helpers/pods.js';

const ARN = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:db-AbCdEf';
const REGISTRY = 'registry.example.com:5000';
const PULL_SECRET = JSON.stringify({ auths: { [REGISTRY]: { auth: Buffer.from('puller:pw-1234').toString('base64') } } });

function review(uid: string): AdmissionRequest {
  const pod: Pod = {
    metadata: { name: uid },
    spec: { imagePullSecrets: [{ name: 'regcred' }], containers: [{ name: 'app', image: `${REGISTRY}/team/app:1`, env: [{ name: 'DB', value: ARN }] }] },
  };
  return { uid, kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'prod', object: pod };
}

t.test("an admission whose deadline passes does not abort the pull-secret reads of a lookup others joined", async (t) => {
  let reads = 0;
  // The API server answers the first read of the pull secret slowly, later ones at once; a
  // read is abandoned when its signal aborts, as the real reader does.
  const objects: KubeObjectReader = {
    read(ref: DataObjectRef, options?: ReadOptions): Promise<ObjectLookup> {
      const delay = reads++ === 0 ? 300 : 10;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => resolve({ found: true, data: new Map([['.dockerconfigjson', PULL_SECRET]]) }), delay);
        options?.signal?.addEventListener('abort', () => {
          clearTimeout(timer);
          reject(new LookupError(ref, 'timeout', "abandoned: the admission's deadline passed"));
        });
      });
    },
    async readServiceAccount() {
      return { found: false };
    },
  };
  const client: RegistryClient = {
    async resolveTag(image, credentials) {
      if (credentials.length === 0) throw new RegistryError(`${REGISTRY}/team/app:1`, REGISTRY, 'unauthorized', 'unauthorized (HTTP 401) anonymously', 401);
      return `sha256:${'a'.repeat(64)}`;
    },
    async imageConfig(_image, digest) {
      return { manifestDigest: digest, entrypoint: ['/app'], cmd: [] };
    },
  };
  const images = registryImageSource({ client, dockerConfigJsonKey: '.dockerconfigjson', cloud: [], defaultArchitecture: 'amd64', tagTtlMs: 60_000 });
  const deps: AdmissionDependencies = { settings: SETTINGS, objects, images, maxConcurrentReads: 8, admissionTimeoutMs: 250 };
  // A starts the lookup; B joins it 150 ms later, so B's own deadline is ~400 ms.
  const a = decideAdmission(review('a'), deps);
  await new Promise((resolve) => setTimeout(resolve, 150));
  const b = decideAdmission(review('b'), deps);
  const [first, second] = await Promise.all([a, b]);
  t.equal(first.result, 'denied', 'A waited past its deadline');
  t.match(first.response.status?.message, /no answer within 250ms/);
  t.equal(second.result, 'injected', `B got the lookup's answer (${second.response.status?.message ?? ''})`);
});
