import { ClosedPeriodsTable1764500000000 } from './closed-periods';
import { AcceptedEventKeys1764000000000, AcceptedEventsTable1763900000000 } from './idempotency-ledger';

export const INGESTION_MIGRATIONS = [
  AcceptedEventsTable1763900000000,
  AcceptedEventKeys1764000000000,
  ClosedPeriodsTable1764500000000,
];
