import { composeProblems, undocumentedConfigKeys } from '@metering/testing';
import { BillingConfig } from './config';

describe(BillingConfig.name, () => {
  it('matches its service in docker-compose.yml', () => {
    expect(composeProblems('billing', BillingConfig)).toEqual([]);
  });

  it('has every variable documented in docs/configuration.md', () => {
    expect(undocumentedConfigKeys('billing', BillingConfig)).toEqual([]);
  });
});
