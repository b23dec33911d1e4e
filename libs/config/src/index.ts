export * from './config';
export * from './env-transforms';
export * from './service-config';
