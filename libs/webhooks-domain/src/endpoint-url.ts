export const MAX_URL_LENGTH = 2048;

export type UrlCheck = { ok: true; url: URL } | { ok: false; reason: string };

/**
 * The form of a webhook URL: absolute, `http` or `https`, a host, no credentials and no fragment.
 * Where the host points is checked separately (it needs DNS, and is checked again at every
 * connection).
 */
export function checkEndpointUrl(text: string): UrlCheck {
  if (text.length > MAX_URL_LENGTH)
    return { ok: false, reason: `url must be at most ${MAX_URL_LENGTH} characters` };
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { ok: false, reason: 'url must be an absolute URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return { ok: false, reason: `url must use http or https, not ${url.protocol.slice(0, -1)}` };
  if (url.hostname === '') return { ok: false, reason: 'url must name a host' };
  if (url.username !== '' || url.password !== '')
    return { ok: false, reason: 'url must not contain credentials' };
  if (url.hash !== '') return { ok: false, reason: 'url must not contain a fragment' };
  return { ok: true, url };
}

/** The host to resolve or connect to: an IPv6 literal without its brackets. */
export const hostOf = (url: URL): string => url.hostname.replace(/^\[(.*)\]$/, '$1');
