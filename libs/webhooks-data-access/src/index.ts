export * from './migrations';
export * from './webhook-store';
export * from './webhook-transport';
