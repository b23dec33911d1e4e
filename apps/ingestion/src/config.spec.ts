import { composeProblems, undocumentedConfigKeys } from '@metering/testing';
import { IngestionConfig } from './config';

describe(IngestionConfig.name, () => {
  it('matches its service in docker-compose.yml', () => {
    expect(composeProblems('ingestion', IngestionConfig)).toEqual([]);
  });

  it('has every variable documented in docs/configuration.md', () => {
    expect(undocumentedConfigKeys('ingestion', IngestionConfig)).toEqual([]);
  });
});
