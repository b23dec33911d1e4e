import { AppError } from '@metering/contracts';
import { proxiedRest, upstreamUrl, type Upstreams } from './upstreams';

const upstreams: Upstreams = {
  'tenant-registry': 'http://127.0.0.1:3001',
  aggregation: 'http://127.0.0.1:3003',
  billing: 'http://billing.internal:8080/metering/billing/',
  audit: 'http://127.0.0.1:3005',
};

const refusal = (service: string, rest: string): unknown => {
  try {
    upstreamUrl(upstreams, service, rest);
  } catch (err) {
    return err instanceof AppError ? { kind: err.kind, code: err.code } : err;
  }
  return 'accepted';
};

describe(upstreamUrl.name, () => {
  it('appends the path and query to the service base URL', () => {
    expect(upstreamUrl(upstreams, 'aggregation', '/v1/usage?meter=pcc&window=day').href).toBe(
      'http://127.0.0.1:3003/v1/usage?meter=pcc&window=day',
    );
    expect(upstreamUrl(upstreams, 'billing', '/v1/accounts/a1/invoices.csv').href).toBe(
      'http://billing.internal:8080/metering/billing/v1/accounts/a1/invoices.csv',
    );
  });

  it('refuses a service it does not proxy, naming the field', () => {
    expect(refusal('ingestion', '/v1/events')).toEqual({ kind: 'not_found', code: 'unknown_service' });
  });

  it.each([
    ['/health'],
    ['/docs/openapi.json'],
    ['/v1/../ready'],
    ['/v1/%2e%2e/metrics'],
    ['/v1/%2E%2E/%2e%2e/x'],
    ['/v1\\..\\..\\health'],
    ['//evil.example/v1/x'],
  ])('refuses %s: only the versioned API is reachable', (rest) => {
    expect(refusal('audit', rest)).toEqual({ kind: 'not_found', code: 'not_proxied' });
  });

  it.each([['it/v1/audit'], ['0/v1/x'], ['@evil.example/v1/x'], [':99999/v1/x']])(
    'refuses %s, which does not follow the base URL as a path',
    (rest) => {
      expect(refusal('audit', rest)).toEqual({ kind: 'not_found', code: 'not_proxied' });
    },
  );

  it('keeps a base path: dot segments cannot climb out of it', () => {
    expect(refusal('billing', '/v1/../../other/v1/x')).toEqual({ kind: 'not_found', code: 'not_proxied' });
  });
});

describe(proxiedRest.name, () => {
  it.each([
    ['/api/audit/v1/audit?limit=5', '/v1/audit?limit=5'],
    ['/api/%61udit/v1/audit', '/v1/audit'],
    ['/api/tenant%2Dregistry/v1/accounts?x=/y', '/v1/accounts?x=/y'],
    ['/API/billing/v1/a/b', '/v1/a/b'],
  ])('takes what follows the service segment of %s as sent', (url, rest) => {
    expect(proxiedRest(url)).toBe(rest);
  });
});
