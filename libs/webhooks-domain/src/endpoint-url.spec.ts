import { checkEndpointUrl, hostOf } from './endpoint-url';

const reason = (text: string) => {
  const check = checkEndpointUrl(text);
  return check.ok ? 'ok' : check.reason;
};

describe(checkEndpointUrl.name, () => {
  it('accepts http and https URLs', () => {
    expect(reason('https://hooks.example.com/metering?source=x')).toBe('ok');
    expect(reason('http://93.184.215.14:8080/in')).toBe('ok');
  });

  it.each([
    ['ftp://example.com/x', 'url must use http or https, not ftp'],
    ['file:///etc/passwd', 'url must use http or https, not file'],
    ['gopher://example.com:70/_', 'url must use http or https, not gopher'],
    ['javascript:alert(1)', 'url must use http or https, not javascript'],
    ['/relative/path', 'url must be an absolute URL'],
    ['https://user:pw@example.com/', 'url must not contain credentials'],
    ['https://example.com/#frag', 'url must not contain a fragment'],
  ])('refuses %s', (text, expected) => {
    expect(reason(text)).toBe(expected);
  });

  it('refuses overlong URLs', () => {
    expect(reason(`https://example.com/${'a'.repeat(2048)}`)).toMatch(/at most 2048/);
  });

  it('normalizes numeric host forms so the address checks see the real address', () => {
    const check = checkEndpointUrl('http://0x7f.1/');
    expect(check.ok && hostOf(check.url)).toBe('127.0.0.1');
    const v6 = checkEndpointUrl('http://[::ffff:127.0.0.1]:81/');
    expect(v6.ok && hostOf(v6.url)).toBe('::ffff:7f00:1');
  });
});
