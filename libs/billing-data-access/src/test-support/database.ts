import type { DataSource } from 'typeorm';
import { BILLING_EVENTS_TOPIC } from '@metering/contracts';
import { EventStore } from '@metering/event-store';
import { createDataSource, openScratchDatabase, urlForRole } from '@metering/persistence';
import { BillingStore, type Caller } from '../billing.store';
import { billingMigrations } from '../migrations';

const ROLE = { name: 'billing_app', password: 'billing_app' };

/** The caller of scheduled runs and admin tooling: every account. */
export const ADMIN: Caller = { scope: 'all-accounts', actor: { type: 'system', id: 'int-test' } };

/**
 * A freshly migrated billing database on the Postgres server for one test file: the store on the
 * app role's connection (row-level security applies), and the owner's connection for checks
 * behind it. `close` drops the database.
 */
export async function openBillingDatabase(
  serverUrl: string,
  prefix: string,
  options: { stripeSync?: boolean } = {},
): Promise<{ owner: DataSource; store: BillingStore; close: () => Promise<void> }> {
  const scratch = await openScratchDatabase(serverUrl, prefix, {
    migrations: billingMigrations({ appRole: ROLE.name, appPassword: ROLE.password }),
  });
  const app = createDataSource({ url: urlForRole(scratch.url, ROLE) });
  await app.initialize();
  const events = new EventStore(app, { source: 'billing', topic: BILLING_EVENTS_TOPIC.name });
  return {
    owner: scratch.db,
    store: new BillingStore(events, options),
    close: async () => {
      await app.destroy();
      await scratch.drop();
    },
  };
}
