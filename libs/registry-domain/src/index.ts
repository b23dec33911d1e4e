export * from './account';
export * from './api-key';
export * from './errors';
export * from './limits';
export * from './roles';
export * from './template';
export * from './tenant';
