export * from './account';
export * from './api-key';
export * from './errors';
export * from './limits';
export { ACCOUNT_ROLES, CAN, ROLES, type Role } from '@metering/contracts';
export * from './template';
export * from './tenant';
