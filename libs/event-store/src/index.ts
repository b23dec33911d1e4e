export * from './decider';
export * from './event-store';
export * from './outbox-relay';
export * from './rebuild';
export * from './schema';
