import { composeProblems } from '@metering/testing';
import { IngestionConfig } from './config';

describe(IngestionConfig.name, () => {
  it('matches its service in docker-compose.yml', () => {
    expect(composeProblems('ingestion', IngestionConfig)).toEqual([]);
  });
});
