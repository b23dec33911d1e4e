import { createHash } from 'node:crypto';
import { openScratchDatabase } from '@metering/persistence';
import { stackVar, uniqueName } from '@metering/testing';
import { IdempotencyLedger, type EventKey } from './idempotency-ledger';
import { INGESTION_MIGRATIONS } from './migrations';

describe(IdempotencyLedger.name, () => {
  let ledger: IdempotencyLedger;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const scratch = await openScratchDatabase(stackVar('POSTGRES_URL'), 'it_ingest', {
      migrations: INGESTION_MIGRATIONS,
      poolSize: 20,
    });
    drop = scratch.drop;
    ledger = new IdempotencyLedger(scratch.db);
  });

  afterAll(() => drop());

  const key = (id: string, payload = 'h1'): EventKey => ({
    source: 's',
    id,
    payloadHash: createHash('sha256').update(payload).digest(),
  });

  it('accepts new ids, reports repeats as duplicates and different payloads as conflicts', async () => {
    const tenant = uniqueName('t');
    expect(await ledger.claimAndPublish(tenant, [key('a'), key('b')], async () => {})).toEqual([
      'accepted',
      'accepted',
    ]);
    expect(
      await ledger.claimAndPublish(tenant, [key('a'), key('b', 'h2'), key('c')], async () => {}),
    ).toEqual(['duplicate', 'conflict', 'accepted']);
    // Another tenant's identical ids are its own.
    expect(await ledger.claimAndPublish(uniqueName('t'), [key('a')], async () => {})).toEqual(['accepted']);
  });

  it('lets exactly one of fifty parallel identical claims publish', async () => {
    const tenant = uniqueName('t');
    let publishes = 0;
    const results = await Promise.all(
      Array.from({ length: 50 }, () =>
        ledger.claimAndPublish(tenant, [key('x'), key('y')], async (accepted) => {
          publishes++;
          await new Promise((r) => setTimeout(r, 20));
          expect(accepted).toEqual([0, 1]);
        }),
      ),
    );
    expect(publishes).toBe(1);
    expect(results.filter((r) => r[0] === 'accepted')).toHaveLength(1);
    expect(results.filter((r) => r[0] === 'duplicate')).toHaveLength(49);
  });

  it('keeps nothing when publishing fails, so a retry is accepted', async () => {
    const tenant = uniqueName('t');
    await expect(
      ledger.claimAndPublish(tenant, [key('z')], async () => {
        throw new Error('broker down');
      }),
    ).rejects.toThrow('broker down');
    expect(await ledger.claimAndPublish(tenant, [key('z')], async () => {})).toEqual(['accepted']);
  });

  it('never deadlocks on overlapping batches sent in opposite orders', async () => {
    const tenant = uniqueName('t');
    const ids = Array.from({ length: 200 }, (_, i) => key(`k${i}`));
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        ledger.claimAndPublish(tenant, i % 2 ? [...ids].reverse() : ids, async () => {}),
      ),
    );
    const acceptedPerId = new Map<number, number>();
    results.forEach((r, i) =>
      r.forEach((o, j) => {
        const idIndex = i % 2 ? ids.length - 1 - j : j;
        if (o === 'accepted') acceptedPerId.set(idIndex, (acceptedPerId.get(idIndex) ?? 0) + 1);
      }),
    );
    expect([...acceptedPerId.values()].every((n) => n === 1)).toBe(true);
    expect(acceptedPerId.size).toBe(ids.length);
  });
});
