// The baseline of bench/http.mjs: a bare Fastify 5 HTTPS server with the webhook's certificate
// files, parsing the same AdmissionReview JSON body (Fastify's default JSON parser, no schema)
// and answering a constant review: same apiVersion, the request's uid, allowed. No logging,
// unless --log-line: then one JSON info line per request on stdout, through the webhook's own
// logger (dist/telemetry/logger.js, as --json makes it), with the fields of its admission
// line: what the webhook must log, on the bare server, a reference for what that line costs.
// Usage: node bench/bare-server.mjs --tls-cert-file=F --tls-private-key-file=F [--listen-address=127.0.0.1:0] [--log-line] [--answer-file=F]
// Prints one JSON line {"msg":"bare fastify is serving","url":"https://…"} once it listens.
import { readFileSync } from 'node:fs';
import Fastify, { LogController } from 'fastify';

const flag = (name, fallback) => {
  const arg = process.argv.slice(2).find((a) => a.startsWith(`--${name}=`));
  if (arg !== undefined) return arg.slice(name.length + 3);
  if (fallback === undefined) throw new Error(`--${name}= is required`);
  return fallback;
};
const [host, port] = (() => {
  const address = flag('listen-address', '127.0.0.1:0');
  const colon = address.lastIndexOf(':');
  return [address.slice(0, colon) || '0.0.0.0', Number(address.slice(colon + 1))];
})();

// With --log-line, Fastify gets the webhook's logger as the webhook passes it (a child per
// request, no request logging of its own) and the route logs through req.log.
const logger = process.argv.includes('--log-line') ? (await import('../dist/telemetry/logger.js')).createLogger({ logLevel: 'info', json: true }) : undefined;
const app = Fastify({
  ...(logger === undefined ? { logger: false } : { loggerInstance: logger, logController: new LogController({ disableRequestLogging: true }) }),
  https: { cert: readFileSync(flag('tls-cert-file')), key: readFileSync(flag('tls-private-key-file')) },
});
// --answer-file=F: the response fields (all but uid) of an answer the webhook gave, sent back
// for every request: what writing that answer costs, without deciding anything.
const answerFile = flag('answer-file', '');
const fixed = answerFile === '' ? { allowed: true } : JSON.parse(readFileSync(answerFile, 'utf8'));
const injected = fixed.auditAnnotations?.['injected-containers']?.split(',');
const answer = (body) => ({ apiVersion: body.apiVersion, kind: 'AdmissionReview', response: { uid: body.request.uid, ...fixed } });
if (logger === undefined) {
  app.post('/pods', async (req) => answer(req.body));
} else {
  app.post('/pods', async (req) => {
    const started = performance.now();
    const request = req.body.request;
    const fields = { uid: request.uid, namespace: request.namespace, pod: `${request.namespace}/${request.object?.metadata?.name ?? `${request.object?.metadata?.generateName ?? ''}<generated>`}`, operation: request.operation, dryRun: request.dryRun === true, result: injected === undefined ? 'unchanged' : 'injected', containers: injected };
    req.log.info({ ...fields, durationMs: Math.round((performance.now() - started) * 100) / 100 }, 'admission decided');
    return answer(req.body);
  });
}
await app.listen({ host, port });
const { address, port: bound } = app.server.address();
process.stdout.write(`${JSON.stringify({ msg: 'bare fastify is serving', url: `https://${address}:${bound}` })}\n`);
for (const signal of ['SIGTERM', 'SIGINT']) process.once(signal, () => void app.close().then(() => process.exit(0)));
