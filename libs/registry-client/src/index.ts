export * from './key-cache';
export * from './registry-client';
