export * from './bootstrap';
export * from './http-error.filter';
export * from './validation.pipe';
export * from './grpc-server';
export * from './grpc-client';
