import {
  AccountPlansTable1764300000000,
  TenantPlansTable1764500000000,
  quotaEventStoreMigration,
} from './account-plan-store';
import { MetersTable1764100000000 } from './meter-store';
import { RollupDaysTable1764400000000, RollupLedgerTable1764200000000 } from './rollup-ledger';

export const AGGREGATION_MIGRATIONS = [
  MetersTable1764100000000,
  RollupLedgerTable1764200000000,
  quotaEventStoreMigration(),
  AccountPlansTable1764300000000,
  RollupDaysTable1764400000000,
  TenantPlansTable1764500000000,
];
