export * from './migrations';
export * from './projection';
export * from './registry.store';
