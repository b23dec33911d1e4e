/**
 * What kind of network an IP address belongs to, for the webhook SSRF rule: only `public`
 * addresses are reached unless configuration allows the address's network.
 */
export type AddressCategory =
  | 'public'
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'unique-local'
  | 'multicast'
  | 'reserved';

/** An IP address as 16 bytes: IPv4 addresses in their IPv4-mapped IPv6 form (`::ffff:a.b.c.d`). */
export interface IpAddress {
  readonly bytes: Uint8Array;
  readonly family: 4 | 6;
}

const V4_PART = /^(0|[1-9]\d{0,2})$/;
const V6_GROUP = /^[0-9a-f]{1,4}$/i;
const MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

function mapped(v4: readonly number[]): Uint8Array {
  return Uint8Array.from([...MAPPED_PREFIX, ...v4]);
}

function parseV4(text: string): number[] | undefined {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => V4_PART.test(p))) return undefined;
  const octets = parts.map(Number);
  return octets.every((o) => o <= 255) ? octets : undefined;
}

/** The 16-bit groups of one side of `::` (an IPv4 tail counts as two); undefined when malformed. */
function groupsOf(side: string, mayEndInV4: boolean): number[] | undefined {
  if (side === '') return [];
  const parts = side.split(':');
  const groups: number[] = [];
  for (const [i, part] of parts.entries()) {
    if (mayEndInV4 && i === parts.length - 1 && part.includes('.')) {
      const v4 = parseV4(part);
      if (!v4) return undefined;
      groups.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
    } else if (V6_GROUP.test(part)) groups.push(parseInt(part, 16));
    else return undefined;
  }
  return groups;
}

function parseV6(text: string): Uint8Array | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const left = groupsOf(halves[0], halves.length === 1);
  const right = halves.length === 2 ? groupsOf(halves[1], true) : [];
  if (!left || !right) return undefined;
  const explicit = left.length + right.length;
  if (halves.length === 1 ? explicit !== 8 : explicit > 7) return undefined;
  const groups = [...left, ...new Array<number>(8 - explicit).fill(0), ...right];
  return Uint8Array.from(groups.flatMap((g) => [g >> 8, g & 0xff]));
}

/**
 * Parses a textual IP address: dotted-quad IPv4, or IPv6 (compressed, with an IPv4 tail, in
 * brackets, with a zone id). Undefined for anything else, host names included.
 */
export function parseIpAddress(text: string): IpAddress | undefined {
  const v4 = parseV4(text);
  if (v4) return { bytes: mapped(v4), family: 4 };
  const bare = text.replace(/^\[(.*)\]$/, '$1').replace(/%[^%]*$/, '');
  if (!bare.includes(':')) return undefined;
  const bytes = parseV6(bare);
  return bytes ? { bytes, family: 6 } : undefined;
}

/** A network: an address and how many leading bits of it are fixed. */
export interface Network {
  readonly bytes: Uint8Array;
  readonly prefix: number;
}

/** Parses `a.b.c.d/n`, `x:y::/n` or a single address (a network of one). Undefined when malformed. */
export function parseNetwork(text: string): Network | undefined {
  const slash = text.indexOf('/');
  const address = parseIpAddress(slash < 0 ? text : text.slice(0, slash));
  if (!address) return undefined;
  const bits = address.family === 4 ? 32 : 128;
  const length = slash < 0 ? String(bits) : text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(length) || Number(length) > bits) return undefined;
  return { bytes: address.bytes, prefix: Number(length) + (128 - bits) };
}

export function inNetwork(bytes: Uint8Array, network: Network): boolean {
  for (let bit = 0; bit < network.prefix; bit += 8) {
    const take = Math.min(8, network.prefix - bit);
    const mask = (0xff << (8 - take)) & 0xff;
    if ((bytes[bit / 8] & mask) !== (network.bytes[bit / 8] & mask)) return false;
  }
  return true;
}

const networks = (entries: [string, AddressCategory][]): [Network, AddressCategory][] =>
  entries.map(([cidr, category]) => [parseNetwork(cidr)!, category]);

/** IPv4 special-purpose ranges (RFC 6890 and successors); every other IPv4 address is public. */
const V4_RANGES = networks([
  ['0.0.0.0/8', 'unspecified'],
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'private'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local'],
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'reserved'],
  ['192.0.2.0/24', 'reserved'],
  ['192.88.99.0/24', 'reserved'],
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'reserved'],
  ['198.51.100.0/24', 'reserved'],
  ['203.0.113.0/24', 'reserved'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved'],
]);

const V6_RANGES = networks([
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  // IPv4-compatible addresses (deprecated): no route should reach them.
  ['::/96', 'reserved'],
  ['64:ff9b:1::/48', 'private'],
  ['100::/64', 'reserved'],
  ['2001:db8::/32', 'reserved'],
  ['fc00::/7', 'unique-local'],
  ['fe80::/10', 'link-local'],
  ['fec0::/10', 'private'],
  ['ff00::/8', 'multicast'],
]);

/** Translation prefixes whose addresses stand for an IPv4 address: classified by that address. */
const V4_CARRIERS: [Network, (bytes: Uint8Array) => Uint8Array][] = [
  [parseNetwork('::ffff:0:0/96')!, (b) => b.slice(12, 16)],
  [parseNetwork('64:ff9b::/96')!, (b) => b.slice(12, 16)],
  [parseNetwork('2002::/16')!, (b) => b.slice(2, 6)],
];

/** The IPv4 address an IPv6 address carries (mapped, NAT64, 6to4), in mapped form. */
export function embeddedIpv4(bytes: Uint8Array): Uint8Array | undefined {
  for (const [network, extract] of V4_CARRIERS)
    if (inNetwork(bytes, network)) return mapped([...extract(bytes)]);
  return undefined;
}

export function classifyAddress(address: IpAddress): AddressCategory {
  const v4 = embeddedIpv4(address.bytes);
  if (v4) return V4_RANGES.find(([network]) => inNetwork(v4, network))?.[1] ?? 'public';
  return V6_RANGES.find(([network]) => inNetwork(address.bytes, network))?.[1] ?? 'public';
}

const ARTICLE: Record<AddressCategory, string> = {
  public: 'a public',
  unspecified: 'an unspecified',
  loopback: 'a loopback',
  private: 'a private',
  'link-local': 'a link-local',
  'unique-local': 'a unique-local',
  multicast: 'a multicast',
  reserved: 'a reserved',
};

/**
 * Which addresses webhook requests may go to: public ones, and any address inside a network the
 * configuration allows (e.g. `10.20.0.0/16` for receivers inside the platform's own network).
 */
export class AddressPolicy {
  private readonly allowed: Network[];

  constructor(allowedNetworks: readonly string[] = []) {
    this.allowed = allowedNetworks.map((text) => {
      const network = parseNetwork(text);
      if (!network) throw new Error(`not a network in CIDR notation: ${JSON.stringify(text)}`);
      return network;
    });
  }

  /** Why a request may not go to `address` (an IP address as text), or undefined when it may. */
  refusal(address: string): string | undefined {
    const parsed = parseIpAddress(address);
    if (!parsed) return `${JSON.stringify(address)} is not an IP address`;
    const category = classifyAddress(parsed);
    if (category === 'public') return undefined;
    const v4 = embeddedIpv4(parsed.bytes);
    const forms = v4 ? [parsed.bytes, v4] : [parsed.bytes];
    if (this.allowed.some((network) => forms.some((bytes) => inNetwork(bytes, network)))) return undefined;
    return `${address} is ${ARTICLE[category]} address`;
  }
}
