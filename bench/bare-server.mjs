// The baseline of bench/http.mjs: a bare Fastify 5 HTTPS server with the webhook's certificate
// files, parsing the same AdmissionReview JSON body (Fastify's default JSON parser, no schema)
// and answering a constant review: same apiVersion, the request's uid, allowed. No logging.
// Usage: node bench/bare-server.mjs --tls-cert-file=F --tls-private-key-file=F [--listen-address=127.0.0.1:0]
// Prints one JSON line {"msg":"bare fastify is serving","url":"https://…"} once it listens.
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';

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

const app = Fastify({
  logger: false,
  https: { cert: readFileSync(flag('tls-cert-file')), key: readFileSync(flag('tls-private-key-file')) },
});
app.post('/pods', async (req) => ({
  apiVersion: req.body.apiVersion,
  kind: 'AdmissionReview',
  response: { uid: req.body.request.uid, allowed: true },
}));
await app.listen({ host, port });
const { address, port: bound } = app.server.address();
process.stdout.write(`${JSON.stringify({ msg: 'bare fastify is serving', url: `https://${address}:${bound}` })}\n`);
for (const signal of ['SIGTERM', 'SIGINT']) process.once(signal, () => void app.close().then(() => process.exit(0)));
