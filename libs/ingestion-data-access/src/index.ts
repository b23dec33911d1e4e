export * from './idempotency-ledger';
