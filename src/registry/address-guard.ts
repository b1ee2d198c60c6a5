/**
 * Where the webhook must not be sent by a pod: registry hosts come from pod images and
 * token realms and redirects from registry answers, so a pod's author could otherwise
 * make the webhook connect to itself, to the node, or to a cloud metadata service
 * (169.254.169.254, fd00:ec2::254) with its own identity. Connections to loopback,
 * link-local, metadata and unspecified addresses are refused unless the operator named
 * the host. The check runs on the addresses a name resolves to, at connect time, so a
 * name that later resolves elsewhere gains nothing.
 */
import { BlockList, isIP } from 'node:net';
import type { LookupAddress, LookupAllOptions, LookupOneOptions } from 'node:dns';
import { lookup as dnsLookup } from 'node:dns';

const RANGES: ReadonlyArray<{ kind: string; block: BlockList }> = [
  { kind: 'loopback', block: blockOf([['127.0.0.0', 8, 'ipv4'], ['::1', 128, 'ipv6']]) },
  { kind: 'cloud metadata', block: blockOf([['169.254.169.254', 32, 'ipv4'], ['fd00:ec2::254', 128, 'ipv6']]) },
  { kind: 'link-local', block: blockOf([['169.254.0.0', 16, 'ipv4'], ['fe80::', 10, 'ipv6']]) },
  { kind: 'unspecified', block: blockOf([['0.0.0.0', 8, 'ipv4'], ['::', 128, 'ipv6']]) },
];

function blockOf(subnets: ReadonlyArray<[string, number, 'ipv4' | 'ipv6']>): BlockList {
  const block = new BlockList();
  for (const [network, prefix, family] of subnets) block.addSubnet(network, prefix, family);
  return block;
}

/** What kind of refused address `ip` is (`loopback`, `link-local`, …), or undefined for an ordinary one. */
export function refusedAddressKind(ip: string): string | undefined {
  const bare = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip;
  // An IPv4-mapped IPv6 address reaches the IPv4 address.
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(bare)?.[1];
  const address = mapped ?? bare;
  const family = isIP(address);
  if (family === 0) return undefined;
  const type = family === 4 ? 'ipv4' : 'ipv6';
  return RANGES.find(({ block }) => block.check(address, type))?.kind;
}

/** The error a refused connection fails with; its message is safe to show. */
export class RefusedAddressError extends Error {
  readonly code = 'ERR_REFUSED_ADDRESS';
  /** `host` as shown (with its port, if any); `literal`: the host is that address itself, not a name. */
  constructor(host: string, address: string, kind: string, literal = false) {
    super(
      literal
        ? `${host} is a ${kind} address, which a pod's image may not make the webhook contact`
        : `${host} resolves to ${address}, a ${kind} address, which a pod's image may not make the webhook contact`,
    );
  }
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for http(s).request: resolves as usual, and fails with RefusedAddressError
 * when any address of `hostname` is refused and `allowed(hostname)` says the operator
 * did not name it.
 */
export function guardedLookup(allowed: (hostname: string) => boolean) {
  return (hostname: string, options: LookupOneOptions | LookupAllOptions, callback: LookupCallback): void => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) {
        callback(error, '');
        return;
      }
      if (!allowed(hostname)) {
        for (const { address } of addresses) {
          const kind = refusedAddressKind(address);
          if (kind !== undefined) {
            callback(new RefusedAddressError(hostname, address, kind), '');
            return;
          }
        }
      }
      if ((options as LookupAllOptions).all === true) callback(null, addresses);
      else callback(null, addresses[0]?.address ?? '', addresses[0]?.family);
    });
  };
}
