/**
 * A pod (the parsed request body) is not kept alive by work that outlives its admission:
 * image lookups are shared and go on within their own bounds after the admission gave up at
 * its deadline. Checked with a WeakRef and a forced collection.
 */
import t from 'tap';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { decideAdmission } from '../../src/admission/handler.js';
import type { AdmissionRequest } from '../../src/admission/review.js';
import type { ImageConfig } from '../../src/core/original-command.js';
import type { ImageConfigSource, ImageLookup } from '../../src/images/image-config-source.js';
import { unconfiguredReader } from '../../src/kubernetes/object-reader.js';
import { SETTINGS } from '../helpers/pods.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

t.test('an image lookup still running after the deadline does not keep the pod', async (t) => {
  const lookups: ImageLookup[] = [];
  // Answers only when the test says so, well past the deadline: like a request to a registry,
  // the lookup stays reachable (here through its resolver) while it runs.
  const answers: Array<(config: ImageConfig) => void> = [];
  const images: ImageConfigSource = {
    configOf: (lookup) => {
      lookups.push(lookup);
      return new Promise<ImageConfig>((resolve) => answers.push(resolve));
    },
  };
  const deps = { settings: SETTINGS, objects: unconfiguredReader(), images, maxConcurrentReads: 8, admissionTimeoutMs: 30 };
  let request: AdmissionRequest | undefined = {
    uid: 'u',
    kind: { group: '', version: 'v1', kind: 'Pod' },
    operation: 'CREATE',
    namespace: 'ns',
    object: {
      metadata: { name: 'p' },
      spec: {
        nodeSelector: { 'kubernetes.io/arch': 'arm64' },
        imagePullSecrets: [{ name: 'regcred' }],
        containers: [{ name: 'app', image: 'registry.example.com/app:1', env: [{ name: 'DB', value: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-Xy12Ab' }] }],
      },
    },
  };
  const pod = new WeakRef(request.object as object);
  const decision = await decideAdmission(request, deps);
  t.equal(decision.result, 'denied');
  t.match(decision.response.status?.message, /no answer within 30ms \(--admission-timeout\); still waiting for the image config of container "app"/);
  t.equal(lookups.length, 1, 'the lookup was started and is still running');
  t.same(lookups[0]?.pod, { architecture: 'arm64', imagePullSecrets: ['regcred'], serviceAccountName: 'default' }, 'it was given what it needs of the pod');
  request = undefined;
  for (let i = 0; i < 3 && pod.deref() !== undefined; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    gc();
  }
  t.equal(pod.deref(), undefined, 'the pod was collected while its lookup runs on');
  for (const answer of answers) answer({ entrypoint: ['/app'], cmd: [] });
});
