import { composeProblems } from '@metering/testing';
import { AggregationConfig } from './config';

describe(AggregationConfig.name, () => {
  it('matches its service in docker-compose.yml', () => {
    expect(composeProblems('aggregation', AggregationConfig)).toEqual([]);
  });
});
