import type { CertsOptions } from '../cli/parse.js';
import { caBundle, generateCertificates, writeCertificates } from '../tls/generate.js';

/**
 * Generates a CA and a serving certificate for the webhook's Service, writes them to
 * the output folder, and prints the base64 CA bundle (for the webhook configuration's
 * caBundle) alone on stdout so scripts can capture it.
 */
export async function runCerts(options: CertsOptions, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<void> {
  const certificates = await generateCertificates({ service: options.service, namespace: options.namespace, hosts: options.hosts, days: options.days });
  const files = await writeCertificates(options.out, certificates);
  err.write(`wrote ${files.caFile}, ${files.certFile}, ${files.keyFile} (service ${options.service}.${options.namespace}.svc, extra hosts: ${options.hosts.join(', ') || 'none'}, valid ${options.days} days)\n`);
  out.write(`${caBundle(certificates)}\n`);
}
