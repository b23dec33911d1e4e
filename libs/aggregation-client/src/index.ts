export * from './meter-catalog-client';
export * from './usage-client';
