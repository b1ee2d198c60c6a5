/**
 * Go-style listen addresses (`net.Listen("tcp", addr)`): `host:port`, where host
 * is empty (all interfaces), a host name, an IPv4 address or a bracketed IPv6
 * address, and port is a decimal integer 0..65535 (0 = pick a free port).
 */
import { fail, isHostNameOrIPv4, isIPv6, ok, type Parsed } from './values.js';

/** `host` is '' for all interfaces; IPv6 hosts are stored without brackets. */
export interface ListenAddress {
  host: string;
  port: number;
}

const EXAMPLES = 'use host:port, e.g. :8443, 0.0.0.0:8443 or [::1]:8443';

export function parseListenAddress(text: string): Parsed<ListenAddress> {
  if (text === '') return fail(`empty address; ${EXAMPLES}`);
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return fail(`missing "]" after IPv6 address; ${EXAMPLES}`);
    host = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (!rest.startsWith(':')) return fail(`missing port; ${EXAMPLES}`);
    if (!isIPv6(host)) return fail(`"${host}" is not an IPv6 address`);
    portText = rest.slice(1);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) return fail(`missing port; ${EXAMPLES}`);
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(':')) return fail(`IPv6 addresses must be in brackets; ${EXAMPLES}`);
    if (host !== '' && !isHostNameOrIPv4(host)) {
      return fail(`"${host}" is not a valid host name or IPv4 address`);
    }
  }
  if (portText === '') return fail(`missing port; ${EXAMPLES}`);
  if (!/^\d+$/.test(portText)) return fail('port must be an integer from 0 to 65535');
  const port = Number(portText);
  if (port > 65535) return fail('port must be an integer from 0 to 65535');
  return ok({ host, port });
}

/** Inverse of {@link parseListenAddress}, for logs: `:8443`, `127.0.0.1:0`, `[::1]:8443`. */
export function formatListenAddress(address: ListenAddress): string {
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return `${host}:${address.port}`;
}
