export * from './meter-catalog-client';
