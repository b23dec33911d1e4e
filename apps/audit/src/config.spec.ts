import { composeProblems } from '@metering/testing';
import { AuditConfig } from './config';

describe(AuditConfig.name, () => {
  it('matches its service in docker-compose.yml', () => {
    expect(composeProblems('audit', AuditConfig)).toEqual([]);
  });
});
