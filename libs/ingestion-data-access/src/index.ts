export * from './closed-periods';
export * from './idempotency-ledger';
export * from './migrations';
