// A local HTTPS stand-in for the Kubernetes API server, for bench/lookup.mjs: answers GETs of
// Secrets and ConfigMaps as the API server does (JSON objects, `Status` bodies for 401 and
// 404), keeps connections alive, and counts what it saw at GET /_stats (not an API path).
// Objects: every namespace holds Secrets app-secrets and app-secrets-<n> (any number n) and
// ConfigMap app-config; other names are not found.
// Usage: node bench/apiserver-standin.mjs --tls-cert-file=F --tls-private-key-file=F
// Prints one JSON line {"msg":"api server stand-in is serving","url":"https://…"} once it listens.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';

const flag = (name) => {
  const arg = process.argv.slice(2).find((a) => a.startsWith(`--${name}=`));
  if (arg === undefined) throw new Error(`--${name}= is required`);
  return arg.slice(name.length + 3);
};
const b64 = (text) => Buffer.from(text).toString('base64');

const stats = { connections: 0, handshakes: 0, reads: 0, secrets: 0, configmaps: 0, notFound: 0, unauthorized: 0 };
const objectsOf = (namespace) => ({
  secrets: {
    'app-secrets': {
      kind: 'Secret',
      apiVersion: 'v1',
      metadata: { name: 'app-secrets', namespace, uid: '6a1f1f6e-0000-4000-8000-000000000001', resourceVersion: '4711', creationTimestamp: '2026-11-01T10:00:00Z' },
      type: 'Opaque',
      data: {
        'db-password': b64('arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop/db-password-AbCdEf'),
        'session-key': b64('not-a-reference-but-a-real-value'),
        'stripe-key': b64('arn:aws:ssm:eu-west-1:123456789012:parameter/shop/stripe-key'),
      },
    },
  },
  configmaps: {
    'app-config': {
      kind: 'ConfigMap',
      apiVersion: 'v1',
      metadata: { name: 'app-config', namespace, uid: '6a1f1f6e-0000-4000-8000-000000000002', resourceVersion: '4712', creationTimestamp: '2026-11-01T10:00:00Z' },
      data: {
        FEATURE_CHECKOUT_V2: 'true',
        CACHE_TTL_SECONDS: '300',
        ANALYTICS_TOKEN: 'arn:aws:ssm:eu-west-1:123456789012:parameter/shop/analytics-token',
        UPSTREAM_URL: 'https://payments.internal.example:8443',
      },
    },
  },
});

const status = (code, reason, message) => ({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
const PATH = /^\/api\/v1\/namespaces\/([a-z0-9-]+)\/(secrets|configmaps)\/([a-z0-9.-]+)$/;

const server = createServer({ cert: readFileSync(flag('tls-cert-file')), key: readFileSync(flag('tls-private-key-file')), keepAliveTimeout: 60_000 }, (req, res) => {
  const send = (code, body) => {
    const text = JSON.stringify(body);
    res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  if (req.url === '/_stats') return send(200, stats);
  if (!/^Bearer \S+$/.test(req.headers.authorization ?? '')) {
    stats.unauthorized++;
    return send(401, status(401, 'Unauthorized', 'Unauthorized'));
  }
  const match = req.method === 'GET' ? PATH.exec(req.url.split('?')[0]) : null;
  if (match === null) return send(404, status(404, 'NotFound', 'the server could not find the requested resource'));
  const [, namespace, resource, name] = match;
  stats.reads++;
  stats[resource]++;
  const object = objectsOf(namespace)[resource][resource === 'secrets' && /^app-secrets-\d+$/.test(name) ? 'app-secrets' : name];
  if (object === undefined) {
    stats.notFound++;
    return send(404, status(404, 'NotFound', `${resource} "${name}" not found`));
  }
  send(200, object.metadata.name === name ? object : { ...object, metadata: { ...object.metadata, name } });
});
server.keepAliveTimeout = 60_000;
server.on('connection', () => stats.connections++);
server.on('secureConnection', () => stats.handshakes++);
server.listen(0, '127.0.0.1', () => {
  const { address, port } = server.address();
  process.stdout.write(`${JSON.stringify({ msg: 'api server stand-in is serving', url: `https://${address}:${port}` })}\n`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.once(signal, () => process.exit(0));
