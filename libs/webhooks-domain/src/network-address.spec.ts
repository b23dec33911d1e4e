import fc from 'fast-check';
import {
  AddressPolicy,
  classifyAddress,
  parseIpAddress,
  parseNetwork,
  type AddressCategory,
} from './network-address';

const category = (text: string): AddressCategory | 'not an address' => {
  const parsed = parseIpAddress(text);
  return parsed ? classifyAddress(parsed) : 'not an address';
};

describe(classifyAddress.name, () => {
  it.each<[string, AddressCategory]>([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['203.0.113.7', 'reserved'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['febf:ffff::1', 'link-local'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456:789a::1', 'unique-local'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'reserved'],
    ['::127.0.0.1', 'reserved'],
    ['[::1]', 'loopback'],
  ])('%s is %s', (address, expected) => {
    expect(category(address)).toBe(expected);
  });

  it.each<[string, AddressCategory]>([
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['0:0:0:0:0:ffff:a9fe:a9fe', 'link-local'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:8.8.8.8', 'public'],
    ['64:ff9b::127.0.0.1', 'loopback'],
    ['64:ff9b::808:808', 'public'],
    ['2002:c0a8:0101::1', 'private'],
    ['2002:0808:0808::1', 'public'],
  ])('classifies %s by the IPv4 address it carries (%s)', (address, expected) => {
    expect(category(address)).toBe(expected);
  });

  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '172.32.0.1',
    '192.169.0.1',
    '2606:4700:4700::1111',
    '2a00:1450:4001::200e',
  ])('%s is public', (address) => {
    expect(category(address)).toBe('public');
  });

  it('classifies the IPv4-mapped form of every IPv4 address like the address itself', () => {
    fc.assert(
      fc.property(fc.ipV4(), (v4) => {
        const [a, b, c, d] = v4.split('.').map(Number);
        const hex = `::ffff:${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
        return category(hex) === category(v4) && category(`::ffff:${v4}`) === category(v4);
      }),
    );
  });
});

describe(parseIpAddress.name, () => {
  it.each([
    'localhost',
    'example.com',
    '127.1',
    '127.0.0.01',
    '256.0.0.1',
    '1.2.3.4.5',
    '::1::',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7',
    'g::1',
    '12345::1',
    '::ffff:1.2.3',
    '',
  ])('does not take %j for an address', (text) => {
    expect(parseIpAddress(text)).toBeUndefined();
  });

  it('reads compressed and full IPv6 forms alike', () => {
    expect(parseIpAddress('2001:db8::8:800:200c:417a')).toEqual(
      parseIpAddress('2001:0db8:0000:0000:0008:0800:200c:417a'),
    );
    expect(parseIpAddress('1::')?.bytes[1]).toBe(1);
  });

  it('round-trips every IPv6 address fast-check makes', () => {
    fc.assert(fc.property(fc.ipV6(), (v6) => parseIpAddress(v6) !== undefined));
  });
});

describe(parseNetwork.name, () => {
  it.each(['10.0.0.0/33', '::/129', '10.0.0.0/', 'nonsense/8', '10.0.0.0/-1'])('refuses %j', (text) => {
    expect(parseNetwork(text)).toBeUndefined();
  });
});

describe(AddressPolicy.name, () => {
  it('refuses every non-public address by default, saying what it is', () => {
    const policy = new AddressPolicy();
    expect(policy.refusal('127.0.0.1')).toBe('127.0.0.1 is a loopback address');
    expect(policy.refusal('::ffff:169.254.169.254')).toBe('::ffff:169.254.169.254 is a link-local address');
    expect(policy.refusal('fd00::1')).toBe('fd00::1 is a unique-local address');
    expect(policy.refusal('93.184.215.14')).toBeUndefined();
  });

  it('allows addresses inside configured networks, in IPv4 and IPv4-mapped form', () => {
    const policy = new AddressPolicy(['127.0.0.0/8', '10.20.0.0/16', 'fd00:1::/32']);
    expect(policy.refusal('127.0.0.1')).toBeUndefined();
    expect(policy.refusal('::ffff:127.0.0.1')).toBeUndefined();
    expect(policy.refusal('10.20.255.1')).toBeUndefined();
    expect(policy.refusal('10.21.0.1')).toBe('10.21.0.1 is a private address');
    expect(policy.refusal('fd00:1:ffff::1')).toBeUndefined();
    expect(policy.refusal('fd00:2::1')).toBe('fd00:2::1 is a unique-local address');
    expect(policy.refusal('::1')).toBe('::1 is a loopback address');
  });

  it('refuses what is not an address', () => {
    expect(new AddressPolicy(['0.0.0.0/0']).refusal('localhost')).toBe('"localhost" is not an IP address');
  });

  it('refuses a configuration that is not a list of networks', () => {
    expect(() => new AddressPolicy(['127.0.0.0/8', 'loopback'])).toThrow(/"loopback"/);
  });
});
