export * from './meter-store';
