import { ConfigError, loadConfig } from '@metering/config';
import { composeProblems, undocumentedConfigKeys } from '@metering/testing';
import { DashboardConfig } from './config';

describe(DashboardConfig.name, () => {
  it('starts with no variable set, pointed at the local stack', () => {
    expect(loadConfig(DashboardConfig, {})).toMatchObject({
      PORT: 3007,
      REGISTRY_API_URL: 'http://127.0.0.1:3001',
      AUDIT_API_URL: 'http://127.0.0.1:3005',
    });
  });

  it('names a service URL that is not an http(s) URL', () => {
    expect(() => loadConfig(DashboardConfig, { BILLING_API_URL: 'billing:3004' })).toThrow(ConfigError);
    expect(() => loadConfig(DashboardConfig, { BILLING_API_URL: 'billing:3004' })).toThrow(/BILLING_API_URL/);
  });

  it('matches its service in docker-compose.yml', () => {
    expect(composeProblems('dashboard', DashboardConfig)).toEqual([]);
  });

  it('has every variable documented in docs/configuration.md', () => {
    expect(undocumentedConfigKeys('dashboard', DashboardConfig)).toEqual([]);
  });
});
