export * from './client';
export * from './escape';
export * from './migrations';
export * from './clickhouse.module';
