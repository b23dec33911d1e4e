import { composeProblems, undocumentedConfigKeys } from '@metering/testing';
import { AggregationConfig } from './config';

describe(AggregationConfig.name, () => {
  it('matches its service in docker-compose.yml', () => {
    expect(composeProblems('aggregation', AggregationConfig)).toEqual([]);
  });

  it('has every variable documented in docs/configuration.md', () => {
    expect(undocumentedConfigKeys('aggregation', AggregationConfig)).toEqual([]);
  });
});
