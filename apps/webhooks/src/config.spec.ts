import { ConfigError, loadConfig } from '@metering/config';
import { composeProblems, undocumentedConfigKeys } from '@metering/testing';
import { WebhooksConfig } from './config';

const problemsOf = (env: NodeJS.ProcessEnv) => {
  try {
    loadConfig(WebhooksConfig, { KAFKA_BROKERS: 'k:9092', ...env });
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => p.variable);
    throw err;
  }
};

describe(WebhooksConfig.name, () => {
  it('matches its service in docker-compose.yml', () => {
    expect(composeProblems('webhooks', WebhooksConfig)).toEqual([]);
  });

  it('has every variable documented in docs/configuration.md', () => {
    expect(undocumentedConfigKeys('webhooks', WebhooksConfig)).toEqual([]);
  });

  it('reads allowed networks as a list of CIDRs and names a bad one', () => {
    const config = loadConfig(WebhooksConfig, {
      KAFKA_BROKERS: 'k:9092',
      WEBHOOK_ALLOWED_PRIVATE_NETWORKS: '127.0.0.0/8, ::1/128',
    });
    expect(config.WEBHOOK_ALLOWED_PRIVATE_NETWORKS).toEqual(['127.0.0.0/8', '::1/128']);
    expect(loadConfig(WebhooksConfig, { KAFKA_BROKERS: 'k:9092' }).WEBHOOK_ALLOWED_PRIVATE_NETWORKS).toEqual(
      [],
    );
    expect(problemsOf({ WEBHOOK_ALLOWED_PRIVATE_NETWORKS: '10.0.0.0/8,intranet' })).toEqual([
      'WEBHOOK_ALLOWED_PRIVATE_NETWORKS',
    ]);
  });

  it('refuses a secret key that is not 32 bytes', () => {
    expect(problemsOf({ WEBHOOK_SECRET_KEY: 'short' })).toEqual(['WEBHOOK_SECRET_KEY']);
  });
});
