export * from './database';
export * from './persistence.module';
