export * from './stack';
export * from './compose';
