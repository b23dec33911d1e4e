export * from './default-meters';
export * from './meter';
export * from './meter-catalog';
export * from './pooling';
export * from './quantity';
export * from './quota';
export * from './catalog-reader';
