import { toMeter } from '@metering/meters';
import { openScratchDatabase } from '@metering/persistence';
import { stackVar } from '@metering/testing';
import { MeterStore } from './meter-store';
import { AGGREGATION_MIGRATIONS } from './migrations';

describe(MeterStore.name, () => {
  let store: MeterStore;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const scratch = await openScratchDatabase(stackVar('POSTGRES_URL'), 'it_agg', {
      migrations: AGGREGATION_MIGRATIONS,
    });
    drop = scratch.drop;
    store = new MeterStore(scratch.db);
  });

  afterAll(() => drop());

  it('keeps a meter as it was defined', async () => {
    const meter = toMeter({ key: 'sms_sent', eventType: 'sms.sent', aggregation: 'COUNT' });
    await store.create(meter);
    expect(await store.list()).toEqual([meter]);
  });

  it('refuses a second meter with the same key', async () => {
    const meter = toMeter({ key: 'dup', eventType: 'x', aggregation: 'COUNT' });
    await store.create(meter);
    await expect(store.create({ ...meter, eventType: 'y' })).rejects.toMatchObject({ code: 'meter_exists' });
  });
});
