export * from './default-meters';
export * from './meter';
export * from './meter-catalog';
