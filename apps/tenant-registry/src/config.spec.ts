import { composeProblems, undocumentedConfigKeys } from '@metering/testing';
import { TenantRegistryConfig } from './config';

describe(TenantRegistryConfig.name, () => {
  it('matches its service in docker-compose.yml', () => {
    expect(composeProblems('tenant-registry', TenantRegistryConfig)).toEqual([]);
  });

  it('has every variable documented in docs/configuration.md', () => {
    expect(undocumentedConfigKeys('tenant-registry', TenantRegistryConfig)).toEqual([]);
  });
});
