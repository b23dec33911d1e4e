import { IsString, IsUrl } from 'class-validator';
import { ConfigError, Secret, configKeys, loadConfig, redactConfig } from './config';
import { ServiceConfig } from './service-config';

class TestConfig extends ServiceConfig {
  override PORT: number = 3999;

  @IsUrl({ require_tld: false, protocols: ['postgres', 'postgresql'] })
  @Secret()
  DATABASE_URL: string = 'postgres://postgres:pw@127.0.0.1:5432/x';

  @IsString()
  NAME: string = 'svc';
}

const problemsOf = (env: NodeJS.ProcessEnv) => {
  try {
    loadConfig(TestConfig, env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
};

describe(loadConfig.name, () => {
  it('applies defaults and converts types', () => {
    const config = loadConfig(TestConfig, { KAFKA_BROKERS: 'a:9092, b:9093', PORT: '4000' });
    expect(config.PORT).toBe(4000);
    expect(config.KAFKA_BROKERS).toEqual(['a:9092', 'b:9093']);
    expect(config.LOG_LEVEL).toBe('info');
    expect(config.NAME).toBe('svc');
  });

  it('keeps a subclass default', () => {
    expect(loadConfig(TestConfig, { KAFKA_BROKERS: 'a:1' }).PORT).toBe(3999);
  });

  it('names a missing required variable', () => {
    expect(problemsOf({})).toEqual([{ variable: 'KAFKA_BROKERS', message: 'is required but not set' }]);
  });

  it('names each invalid variable', () => {
    const problems = problemsOf({ KAFKA_BROKERS: 'nohostport', PORT: 'abc', LOG_LEVEL: 'loud' });
    expect(problems.map((p) => p.variable).sort()).toEqual(['KAFKA_BROKERS', 'LOG_LEVEL', 'PORT']);
  });

  it('lists the variables a class reads, inherited ones included', () => {
    expect(configKeys(TestConfig)).toEqual(
      expect.arrayContaining(['DATABASE_URL', 'KAFKA_BROKERS', 'LOG_LEVEL', 'NAME', 'PORT']),
    );
  });

  it('masks secrets when redacted', () => {
    const redacted = redactConfig(loadConfig(TestConfig, { KAFKA_BROKERS: 'a:1' }));
    expect(redacted.DATABASE_URL).toBe('***');
    expect(redacted.NAME).toBe('svc');
  });
});
