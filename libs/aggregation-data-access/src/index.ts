export * from './meter-store';
export * from './migrations';
export * from './rollup-ledger';
export * from './account-plan-store';
