import { AppError, type ErrorKind } from '@metering/contracts';

export enum RegistryErrorCode {
  ACCOUNT_NOT_FOUND = 'account_not_found',
  ACCOUNT_EXISTS = 'account_exists',
  TENANT_NOT_FOUND = 'tenant_not_found',
  TENANT_EXISTS = 'tenant_exists',
  TENANT_SUSPENDED = 'tenant_suspended',
  TENANT_DELETED = 'tenant_deleted',
  INVALID_TRANSITION = 'invalid_transition',
  UNKNOWN_LIMIT = 'unknown_limit',
  INVALID_LIMIT = 'invalid_limit',
  INVALID_CURRENCY = 'invalid_currency',
  INVALID_TIMEZONE = 'invalid_timezone',
  TEMPLATE_NOT_FOUND = 'template_not_found',
  API_KEY_NOT_FOUND = 'api_key_not_found',
  API_KEY_REVOKED = 'api_key_revoked',
}

const KIND: Record<RegistryErrorCode, ErrorKind> = {
  [RegistryErrorCode.ACCOUNT_NOT_FOUND]: 'not_found',
  [RegistryErrorCode.ACCOUNT_EXISTS]: 'conflict',
  [RegistryErrorCode.TENANT_NOT_FOUND]: 'not_found',
  [RegistryErrorCode.TENANT_EXISTS]: 'conflict',
  [RegistryErrorCode.TENANT_SUSPENDED]: 'conflict',
  [RegistryErrorCode.TENANT_DELETED]: 'conflict',
  [RegistryErrorCode.INVALID_TRANSITION]: 'conflict',
  [RegistryErrorCode.UNKNOWN_LIMIT]: 'invalid',
  [RegistryErrorCode.INVALID_LIMIT]: 'invalid',
  [RegistryErrorCode.INVALID_CURRENCY]: 'invalid',
  [RegistryErrorCode.INVALID_TIMEZONE]: 'invalid',
  [RegistryErrorCode.TEMPLATE_NOT_FOUND]: 'not_found',
  [RegistryErrorCode.API_KEY_NOT_FOUND]: 'not_found',
  [RegistryErrorCode.API_KEY_REVOKED]: 'conflict',
};

export class RegistryError extends AppError {
  constructor(code: RegistryErrorCode, message: string, details?: unknown) {
    super(KIND[code], code, message, details);
  }
}
