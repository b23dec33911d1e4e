export * from './attribution';
export { MAX_PRICE_SCALE, formatDecimal, parseDecimal, parseQuantity, type Decimal } from './decimal';
export * from './errors';
export * from './modes';
export * from './money';
export * from './periods';
export * from './proration';
export * from './rating';
