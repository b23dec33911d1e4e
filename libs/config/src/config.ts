import 'reflect-metadata';
import { plainToInstance } from 'class-transformer';
import { getMetadataStorage, validateSync } from 'class-validator';

type ConfigClass<T> = new () => T;

const secretKeys = new WeakMap<object, Set<string>>();

/** Marks a config variable as secret: never logged, shown masked. */
export function Secret(): PropertyDecorator {
  return (target, key) => {
    const set = secretKeys.get(target) ?? new Set<string>();
    set.add(String(key));
    secretKeys.set(target, set);
  };
}

export interface ConfigProblem {
  variable: string;
  message: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: ConfigProblem[]) {
    super(`invalid configuration: ${problems.map((p) => `${p.variable} ${p.message}`).join('; ')}`);
    this.name = 'ConfigError';
  }
}

/** The environment variables a config class reads: its validated properties. */
export function configKeys<T>(cls: ConfigClass<T>): string[] {
  const metadata = getMetadataStorage().getTargetValidationMetadatas(cls, '', true, false);
  return [...new Set(metadata.map((m) => m.propertyName))].sort();
}

function isSecret(config: object, key: string): boolean {
  for (
    let proto = Object.getPrototypeOf(config) as object | null;
    proto;
    proto = Object.getPrototypeOf(proto) as object | null
  ) {
    if (secretKeys.get(proto)?.has(key)) return true;
  }
  return false;
}

/**
 * Reads one config class from the environment: class defaults first, then set variables
 * (an empty string counts as unset), converted by the declared property types (annotate them:
 * conversion reads the emitted design type) and validated.
 * Throws a ConfigError naming every bad or missing variable.
 */
export function loadConfig<T extends object>(cls: ConfigClass<T>, env: NodeJS.ProcessEnv = process.env): T {
  const defaults = new cls() as Record<string, unknown>;
  const raw: Record<string, unknown> = {};
  for (const key of configKeys(cls)) {
    const value = env[key];
    raw[key] = value === undefined || value === '' ? defaults[key] : value;
  }
  const config = plainToInstance(cls, raw, { enableImplicitConversion: true });
  const errors = validateSync(config, { forbidUnknownValues: true });
  if (errors.length) {
    throw new ConfigError(
      errors.map((e) => ({
        variable: e.property,
        message:
          e.value === undefined
            ? 'is required but not set'
            : `is invalid: ${Object.values(e.constraints ?? {}).join(', ')}`,
      })),
    );
  }
  return config;
}

/** The config as it may be logged: secrets masked. */
export function redactConfig<T extends object>(config: T): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    out[key] = isSecret(config, key) && value !== undefined ? '***' : value;
  }
  return out;
}

/** Loads config or stops the process with a message naming each bad variable (exit code 78). */
export function loadConfigOrExit<T extends object>(cls: ConfigClass<T>, service: string): T {
  try {
    return loadConfig(cls, process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(
      `${service}: cannot start, invalid configuration:\n${err.problems
        .map((p) => `  ${p.variable} ${p.message}`)
        .join('\n')}\n`,
    );
    process.exit(78);
  }
}
