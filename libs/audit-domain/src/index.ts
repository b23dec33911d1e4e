export * from './audit-entry';
export * from './audit-query';
export * from './canonical-json';
export * from './chain-verifier';
export * from './event-check';
export * from './signing';
export * from './export-format';
export * from './access';
