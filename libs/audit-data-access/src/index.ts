export * from './audit-store';
export * from './migrations';
