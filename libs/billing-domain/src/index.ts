export * from './errors';
export * from './invoice';
export * from './invoice-view';
export * from './plan';
export * from './subscription';
export * from './tenant-subscription';
export * from './stripe';
