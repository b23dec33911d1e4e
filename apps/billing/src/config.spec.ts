import { composeProblems } from '@metering/testing';
import { BillingConfig } from './config';

describe(BillingConfig.name, () => {
  it('matches its service in docker-compose.yml', () => {
    expect(composeProblems('billing', BillingConfig)).toEqual([]);
  });
});
