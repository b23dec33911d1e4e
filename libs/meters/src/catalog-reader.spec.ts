import { CatalogReader } from './catalog-reader';
import { DEFAULT_METERS } from './default-meters';
import { MeterCatalog } from './meter-catalog';
import type { Meter } from './meter';

/** A store whose reads the test finishes one by one; `meters` is what a read started now sees. */
function store() {
  const reads: { sees: Meter[]; finish: () => void; fail: (err: Error) => void }[] = [];
  let meters: Meter[] = [DEFAULT_METERS[0]];
  const load = () =>
    new Promise<MeterCatalog>((resolve, reject) => {
      const sees = [...meters];
      reads.push({ sees, finish: () => resolve(new MeterCatalog(sees)), fail: reject });
    });
  return {
    reads,
    load,
    add: (meter: Meter) => {
      meters = [...meters, meter];
    },
  };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('CatalogReader', () => {
  it('answers refresh with a read begun after the call, even while an older read is in flight', async () => {
    const s = store();
    const reader = new CatalogReader(s.load, 1_000);
    const first = reader.refresh();
    await turn();
    s.add(DEFAULT_METERS[1]);
    // Created after the first read began: that read cannot answer this caller.
    const second = reader.refresh();
    s.reads[0].finish();
    await first;
    await turn();
    expect(s.reads).toHaveLength(2);
    s.reads[1].finish();
    expect((await second).get(DEFAULT_METERS[1].key)).toBeDefined();
  });

  it('shares one read among callers who asked before it began', async () => {
    const s = store();
    const reader = new CatalogReader(s.load, 1_000);
    const blocker = reader.refresh();
    await turn();
    const waiting = [reader.refresh(), reader.refresh(), reader.refresh()];
    s.reads[0].finish();
    await blocker;
    await turn();
    expect(s.reads).toHaveLength(2);
    s.reads[1].finish();
    const answers = await Promise.all(waiting);
    expect(new Set(answers).size).toBe(1);
    expect(reader.current).toBe(answers[0]);
  });

  it('reads at most once per interval however many callers meet an unknown key', async () => {
    let reads = 0;
    const reader = new CatalogReader(() => {
      reads++;
      return Promise.resolve(new MeterCatalog(DEFAULT_METERS));
    }, 100);
    await reader.refresh();
    const started = Date.now();
    const flood = await Promise.all(Array.from({ length: 200 }, () => reader.fresh()));
    expect(flood.every((c) => c === reader.current)).toBe(true);
    expect(reads).toBe(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
  });

  it('lets periodic reads share the read in flight', async () => {
    const s = store();
    const reader = new CatalogReader(s.load, 1_000);
    const both = Promise.all([reader.read(), reader.read()]);
    await turn();
    expect(s.reads).toHaveLength(1);
    s.reads[0].finish();
    const [a, b] = await both;
    expect(a).toBe(b);
  });

  it('passes a failed read on to its callers and reads again for the next', async () => {
    const s = store();
    const reader = new CatalogReader(s.load, 0);
    const failing = reader.refresh();
    await turn();
    s.reads[0].fail(new Error('store down'));
    await expect(failing).rejects.toThrow('store down');
    const next = reader.refresh();
    await turn();
    s.reads[1].finish();
    expect((await next).meters).toHaveLength(1);
  });
});
