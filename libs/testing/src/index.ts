export * from './stack';
export * from './compose';
export * from './services';
export * from './usage-events';
export * from './http';
export * from './kafka-control';
