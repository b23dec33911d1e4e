export * from './delivery-request';
export * from './endpoint';
export * from './endpoint-url';
export * from './errors';
export * from './event-types';
export * from './network-address';
export * from './retry-policy';
export * from './signing-secret';
