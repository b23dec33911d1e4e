export * from './context';
export * from './health';
export * from './logger';
export * from './metrics';
export * from './observability.module';
export * from './request-context.middleware';
