// createClusterScanner's paginated lists against the stub API server: a continue token that
// expires between two pages (410 Expired) starts the list again, without what it gave already.
import t from 'tap';
import type { Test } from 'tap';
import { MAX_LIST_RESTARTS, createClusterScanner } from '../../src/kubernetes/cluster-scan.js';
import type { ClusterScanner } from '../../src/kubernetes/cluster-scan.js';
import { LookupError } from '../../src/kubernetes/lookup.js';
import { loadKubeConfig } from '../../src/kubernetes/object-reader.js';
import { startStubApiServer } from '../helpers/stub-apiserver.js';
import type { StubApiServer } from '../helpers/stub-apiserver.js';

async function setup(t: Test, pods: string[]): Promise<{ stub: StubApiServer; scanner: ClusterScanner }> {
  const stub = await startStubApiServer();
  t.teardown(() => stub.close());
  for (const name of pods) stub.addPod('team', { metadata: { name }, spec: { containers: [{ name: 'app' }] }, status: { phase: 'Running' } });
  const kubeConfig = loadKubeConfig({ KUBECONFIG: stub.kubeconfigPath });
  if (kubeConfig === undefined) throw new Error('stub kubeconfig did not load');
  return { stub, scanner: createClusterScanner(kubeConfig, 5000) };
}

const nameOf = (item: Record<string, unknown>): string => String((item['metadata'] as { name?: unknown }).name);

/** The list requests sent since `from`: with or without a continue token. */
function lists(stub: StubApiServer, from: number): string[] {
  return stub.requests.slice(from).filter((r) => r.path.startsWith('/api/v1/namespaces/team/pods')).map((r) => (/[?&]continue=/.test(r.path) ? 'continue' : 'new'));
}

t.test('a continue token that expires between pages: the list starts again, each pod given once', async (t) => {
  const { stub, scanner } = await setup(t, ['a', 'b', 'c', 'd', 'e']);
  const pages: string[][] = [];
  for await (const page of scanner.pods('team', 2)) {
    pages.push(page.map(nameOf));
    if (pages.length === 1) {
      // While page 1 is audited: the token expires, a pod goes away, another comes.
      stub.expireContinueTokens();
      stub.remove('Pod', 'team', 'a');
      stub.addPod('team', { metadata: { name: 'aa' }, spec: { containers: [{ name: 'app' }] }, status: { phase: 'Running' } });
    }
  }
  t.same(pages, [['a', 'b'], ['aa'], ['c', 'd'], ['e']], 'the restarted list leaves out b (given already) and brings the new pod');
  t.same(lists(stub, 0), ['new', 'continue', 'new', 'continue', 'continue'], '410 on the continue, then a new list');
});

t.test(`after ${MAX_LIST_RESTARTS} restarts an expired token fails the list, saying why`, async (t) => {
  const { stub, scanner } = await setup(t, ['a', 'b', 'c']);
  // Every list request expires the tokens given before it: no continue ever succeeds.
  const expireOnEveryList = (): void => {
    stub.expireContinueTokens();
    stub.beforeNextGet('/api/v1/namespaces/team/pods', expireOnEveryList);
  };
  stub.beforeNextGet('/api/v1/namespaces/team/pods', expireOnEveryList);
  const pages: string[][] = [];
  const error = await (async () => {
    for await (const page of scanner.pods('team', 1)) pages.push(page.map(nameOf));
  })().then(() => undefined, (caught: unknown) => caught);
  t.ok(error instanceof LookupError, 'rejects with a LookupError');
  t.match(error, {
    cause: 'bad-response',
    httpStatus: 410,
    message: `cannot read Pods in team: the list expired before its last page (HTTP 410 Expired: its continue token is too old) ${MAX_LIST_RESTARTS + 1} times, though started again ${MAX_LIST_RESTARTS} times; the API server keeps a list for about 5 minutes`,
  });
  t.same(pages, [['a']], 'the first pod given once; the restarted pages, left empty, not given');
  t.same(lists(stub, 0), ['new', ...Array<string>(MAX_LIST_RESTARTS).fill('').flatMap(() => ['continue', 'new']), 'continue']);
});

t.test('a 410 to a list without a continue token is not retried', async (t) => {
  const { stub, scanner } = await setup(t, ['a']);
  stub.failWith(410);
  const error = await (async () => {
    for await (const _page of scanner.pods('team', 1));
  })().then(() => undefined, (caught: unknown) => caught);
  t.match(error, { cause: 'bad-response', httpStatus: 410, message: /unexpected response from API server \(HTTP 410\)/ });
  t.same(lists(stub, 0), ['new']);
});

t.test('namespaces are listed again too when the token expires', async (t) => {
  const { stub, scanner } = await setup(t, []);
  for (const name of ['n1', 'n2', 'n3']) stub.addNamespace(name);
  stub.beforeNextGet('/api/v1/namespaces', () => stub.beforeNextGet('/api/v1/namespaces', () => stub.expireContinueTokens()));
  const namespaces = await scanner.namespaces(1);
  t.same(namespaces.map((n) => n.name), ['n1', 'n2', 'n3']);
  t.equal(stub.requests.filter((r) => r.path.startsWith('/api/v1/namespaces?')).length, 5, 'n1, n2 (410), n1 again, n2, n3');
});
