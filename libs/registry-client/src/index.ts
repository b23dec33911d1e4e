export * from './key-cache';
export * from './registry-client';
export * from './management-key.guard';
export * from './registry-changes';
