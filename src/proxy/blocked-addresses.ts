import { BlockList, isIP } from 'node:net';
import os from 'node:os';

// What a client-given URL must not reach: this machine, its networks, and what is not unicast.
const V4_BLOCKED: [string, number][] = [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4],
];
const V6_BLOCKED: [string, number][] = [['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8]];

export const bare = (host: string): string => host.replace(/^\[|\]$/g, '').replace(/%.*$/, '');

/** The blocked ranges plus every address of this machine's interfaces as they are now. */
export function blockList(): BlockList {
  const list = new BlockList();
  for (const [net, prefix] of V4_BLOCKED) list.addSubnet(net, prefix, 'ipv4');
  for (const [net, prefix] of V6_BLOCKED) list.addSubnet(net, prefix, 'ipv6');
  for (const entries of Object.values(os.networkInterfaces())) {
    for (const { address } of entries ?? []) {
      const ip = bare(address);
      if (isIP(ip)) list.addAddress(ip, isIP(ip) === 4 ? 'ipv4' : 'ipv6');
    }
  }
  return list;
}

/** The eight 16-bit groups of a valid IPv6 address (a dotted IPv4 tail included). */
function groups(v6: string): number[] {
  let text = v6.toLowerCase();
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [left = '', right] = text.split('::');
  const parse = (part: string): number[] => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const head = parse(left);
  const tail = right === undefined ? [] : parse(right);
  return [...head, ...Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

/** The IPv4 address an IPv6 one stands for (mapped, compatible, NAT64, 6to4): it reaches that. */
function embeddedV4(v6: string): string | undefined {
  const g = groups(v6);
  const v4 = (hi = 0, lo = 0): string => `${String(hi >> 8)}.${String(hi & 255)}.${String(lo >> 8)}.${String(lo & 255)}`;
  const zero = (from: number, to: number): boolean => g.slice(from, to).every((x) => x === 0);
  if (zero(0, 5) && (g[5] === 0xffff || g[5] === 0)) return v4(g[6], g[7]);
  if (g[0] === 0x64 && g[1] === 0xff9b && zero(2, 6)) return v4(g[6], g[7]);
  if (g[0] === 0x2002) return v4(g[1], g[2]);
  return undefined;
}

/** Whether a URL may not reach `address`; anything that is not an IP address is refused. */
export function isBlockedAddress(address: string, list: BlockList = blockList()): boolean {
  const ip = bare(address);
  const family = isIP(ip);
  if (family === 4) return list.check(ip, 'ipv4');
  if (family !== 6) return true;
  if (list.check(ip, 'ipv6')) return true;
  const v4 = embeddedV4(ip);
  return v4 !== undefined && list.check(v4, 'ipv4');
}

