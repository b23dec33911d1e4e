export * from './billing-run';
export * from './billing.store';
export * from './migrations';
export * from './stripe-billing';
