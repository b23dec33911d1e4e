import { composeProblems } from '@metering/testing';
import { TenantRegistryConfig } from './config';

describe(TenantRegistryConfig.name, () => {
  it('matches its service in docker-compose.yml', () => {
    expect(composeProblems('tenant-registry', TenantRegistryConfig)).toEqual([]);
  });
});
