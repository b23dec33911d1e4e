import { composeProblems, undocumentedConfigKeys } from '@metering/testing';
import { AuditConfig } from './config';

describe(AuditConfig.name, () => {
  it('matches its service in docker-compose.yml', () => {
    expect(composeProblems('audit', AuditConfig)).toEqual([]);
  });

  it('has every variable documented in docs/configuration.md', () => {
    expect(undocumentedConfigKeys('audit', AuditConfig)).toEqual([]);
  });
});
