/**
 * Hostile bodies against the built server with the Deployment's heap limit: JSON that
 * parses to ~29 bytes of heap per byte (nested arrays), near the default body limit, in
 * pods whose image lookup hangs (a registry that accepts and never answers), so each parsed
 * body is held for the registry timeout. Before bodies were bounded, three of them at once
 * took the process down (V8 out of heap); now what does not fit is refused with 503 and the
 * server keeps answering.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { makeTestCertificates } from '../helpers/certs.js';
import { rawConnection } from '../helpers/raw-connection.js';
import { REPO_ROOT, runCli, startWebhook } from '../helpers/webhook-process.js';
import { exampleReview, parseAnswer, postReview, send } from './fixtures/support.js';

/** NODE_OPTIONS as manifests/base/deployment.yaml gives the webhook container. */
function deploymentNodeOptions(): string {
  const deployment = parseDocument(readFileSync(join(REPO_ROOT, 'manifests', 'base', 'deployment.yaml'), 'utf8')).toJS() as {
    spec: { template: { spec: { containers: Array<{ env?: Array<{ name: string; value?: string }> }> } } };
  };
  const value = deployment.spec.template.spec.containers[0]?.env?.find((e) => e.name === 'NODE_OPTIONS')?.value;
  if (value === undefined) throw new Error('manifests/base/deployment.yaml sets no NODE_OPTIONS');
  return value;
}

// A registry that accepts connections and never answers: each lookup waits for --registry-timeout.
const held = new Set<Socket>();
const silent = createServer((socket) => {
  held.add(socket);
  socket.on('error', () => undefined);
});
await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
const registry = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
t.teardown(() => {
  for (const socket of held) socket.destroy();
  silent.close();
});

const certs = await makeTestCertificates('ec-pkcs8');
t.teardown(certs.cleanup);
const hook = await startWebhook(
  ['server', `--tls-cert-file=${certs.certFile}`, `--tls-private-key-file=${certs.keyFile}`, `--insecure-registries=${registry}`, '--registry-timeout=3s'],
  { NODE_OPTIONS: deploymentNodeOptions() },
  { t },
);
const tls = { ca: certs.caPem, servername: 'localhost', timeoutMs: 30_000 };

/** A review of a pod that needs its image's config (no command) from the silent registry, with ~`size` bytes of nested arrays in an extra field. */
function hostileReview(uid: string, size: number, tag = '1'): string {
  const review = exampleReview();
  review.request.uid = uid;
  const pod = review.request.object;
  if (pod === undefined) throw new Error('the example has no pod');
  pod.spec.containers = [{ name: 'app', image: `${registry}/app:${tag}`, env: [{ name: 'DB', value: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-Xy12Ab' }] }];
  const text = JSON.stringify(review);
  const depth = Math.floor((size - text.length - 10) / 2);
  return text.replace('"spec":', `"junk":${'['.repeat(depth)}${']'.repeat(depth)},"spec":`);
}

t.test('four 2 MiB bodies of nested arrays held by a silent registry: the server stays up and refuses what does not fit', async (t) => {
  // The largest the default --max-request-bytes takes: two of their parses fit the budget, a third does not.
  const size = 2 * 1024 * 1024 - 1024;
  const answers = await Promise.all(['a', 'b', 'c', 'd'].map((uid) => send(`${hook.url}/pods`, { ...tls, method: 'POST', headers: { 'content-type': 'application/json' }, body: hostileReview(uid, size) })));
  t.ok(hook.running(), 'the server is still running');
  t.notMatch(hook.logs(), /heap out of memory|OOMErrorHandler/, 'V8 did not run out of heap');
  const statuses = answers.map((a) => a.status).sort();
  t.ok(statuses.every((s) => s === 200 || s === 503), `each body answered (${statuses.join(', ')})`);
  t.ok(statuses.includes(503), 'the bodies that did not fit beside the held ones were refused');
  for (const answer of answers.filter((a) => a.status === 503)) {
    t.match(JSON.parse(answer.text), { message: /the webhook holds as much request data as its memory allows \(\d+(\.\d)? MiB\); try again/ });
  }
  const refused = statuses.filter((s) => s === 503).length;
  const refusalLines = () => hook.jsonLogs().filter((line) => line['msg'] === 'request refused');
  // The log comes through a pipe, batched per turn of the server's event loop: wait for it.
  for (let i = 0; refusalLines().length < refused && i < 100; i++) await new Promise((resolve) => setTimeout(resolve, 20));
  const refusals = refusalLines();
  t.equal(refusals.length, refused, 'each refusal logged once');
  t.ok(refusals.every((line) => line['level'] === 40 && line['status'] === 503), 'as a warning with its status');
  for (const answer of answers.filter((a) => a.status === 200)) {
    t.match(parseAnswer(answer).response.status?.message, /cannot read image/, 'a held body is answered once its lookup gives up');
  }
  const after = parseAnswer(await postReview(hook.url, exampleReview(), tls));
  t.equal(after.response.allowed, true, 'an ordinary admission is answered afterwards');
  t.equal((await send(`${hook.url}/healthz`, tls)).status, 200);
});

t.test('2 MiB bodies pipelined on one connection behind a held one: their parsed bodies are let go while their answers wait', async (t) => {
  const size = 2 * 1024 * 1024 - 1024;
  const caller = await rawConnection(t, Number(new URL(hook.url).port), certs.caPem);
  // The first waits for the silent registry; each next one is parsed and answered (400: not a
  // review), its answer queued behind the first. Their parsed bodies (~58 MiB each) must not
  // stay reachable while their answers wait: six of them would be twice the heap.
  const nested = `[${'['.repeat(size / 2 - 1)}${']'.repeat(size / 2 - 1)}]`;
  // An image not looked up before (a failed lookup is remembered for a while).
  caller.post(hostileReview('first', 4096, 'pipelined'));
  for (let i = 0; i < 6; i++) caller.post(nested);
  const started = Date.now();
  while ((caller.received().match(/HTTP\/1\.1 \d+ /g) ?? []).length < 7 && hook.running() && Date.now() - started < 20_000) await new Promise((resolve) => setTimeout(resolve, 50));
  t.ok(hook.running(), 'the server is still running');
  t.notMatch(hook.logs(), /heap out of memory|Reached heap limit/, 'V8 did not run out of heap');
  t.same((caller.received().match(/HTTP\/1\.1 \d+/g) ?? []).map((line) => line.slice(9)), ['200', '400', '400', '400', '400', '400', '400'], 'every request answered, in order');
});

t.test('with the Deployment\'s heap, a body limit whose parse could not fit is refused at start', async (t) => {
  const result = await runCli(['server', '--listen-address=127.0.0.1:0', '--max-request-bytes=3Mi'], { NODE_OPTIONS: deploymentNodeOptions() }, { t });
  t.equal(result.code, 2, 'exit code 2: the operator\'s to fix');
  t.match(
    result.stderr,
    /--max-request-bytes=3 MiB: parsing a body that large may take up to 96 MiB of heap, and V8 may still hold the previous one's, more than the \d+(\.\d)? MiB requests may hold \(half of V8's heap limit\); lower --max-request-bytes or raise --max-old-space-size in NODE_OPTIONS/,
  );
  t.notMatch(result.stdout + result.stderr, /secrets-init-webhook is serving/, 'it never served');
});

t.test('a 2 MiB body that arrives one byte per HTTP chunk: the server stays up and answers it', async (t) => {
  // Each byte its own chunk of a chunked body (6 bytes on the wire): node:http hands the body
  // over one chunk at a time, each a Buffer of its own. Kept one by one until the body was
  // complete, 2 million of them took the Deployment's heap in a few seconds (V8 out of heap).
  const size = 2 * 1024 * 1024 - 1024;
  const review = exampleReview();
  review.request.uid = 'one-byte-chunks';
  const pod = review.request.object;
  if (pod === undefined) throw new Error('the example has no pod');
  pod.metadata = { ...pod.metadata, annotations: { ...pod.metadata?.annotations, pad: '' } };
  const empty = JSON.stringify(review);
  pod.metadata.annotations = { ...pod.metadata.annotations, pad: 'x'.repeat(size - empty.length) };
  const body = JSON.stringify(review);
  const caller = await rawConnection(t, Number(new URL(hook.url).port), certs.caPem);
  caller.socket.write('POST /pods HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n');
  const closed = new Promise<void>((resolve) => caller.socket.once('close', resolve));
  for (let at = 0; at < body.length && !caller.socket.destroyed; at += 4096) {
    let piece = '';
    for (const byte of body.slice(at, at + 4096)) piece += `1\r\n${byte}\r\n`;
    if (!caller.socket.write(piece)) await Promise.race([new Promise((resolve) => caller.socket.once('drain', resolve)), closed]);
  }
  caller.socket.write('0\r\n\r\n');
  const started = Date.now();
  while (!/HTTP\/1\.1 \d+ [^]*\r\n\r\n\{/.test(caller.received()) && !caller.socket.destroyed && Date.now() - started < 30_000) await new Promise((resolve) => setTimeout(resolve, 50));
  // The log comes through a pipe: give a crash's lines a moment to arrive.
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.ok(hook.running(), 'the server is still running');
  t.notMatch(hook.logs(), /heap out of memory|Reached heap limit/, 'V8 did not run out of heap');
  t.match(caller.received(), /^HTTP\/1\.1 200 /, 'the body was read and answered');
  if (hook.running()) {
    const after = parseAnswer(await postReview(hook.url, exampleReview(), tls));
    t.equal(after.response.allowed, true, 'an ordinary admission is answered afterwards');
  }
});
