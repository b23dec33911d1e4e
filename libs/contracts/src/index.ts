export * from './domain-event';
export * from './errors';
export * from './limits';
export * from './proto';
export * from './rfc3339';
export * from './topics';
export * from './usage-event';
export * from './validation';
