import fc from 'fast-check';
import { GroupCommit } from './group-commit';

/** A flush that records what it was given and finishes when the test says so. */
function controlledFlush() {
  const calls: { items: number[]; finish: (err?: Error) => void }[] = [];
  const flush = (items: number[]) =>
    new Promise<void>((resolve, reject) => {
      calls.push({ items, finish: (err) => (err ? reject(err) : resolve()) });
    });
  return { calls, flush };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('GroupCommit', () => {
  it('writes submissions of the same turn together, and those made during a flush in the next one', async () => {
    const { calls, flush } = controlledFlush();
    const group = new GroupCommit<number>({ flush });
    const settled: string[] = [];
    const a = group.submit([1, 2]).then(() => settled.push('a'));
    const b = group.submit([3]).then(() => settled.push('b'));
    await tick();
    expect(calls.map((c) => c.items)).toEqual([[1, 2, 3]]);

    const c = group.submit([4]).then(() => settled.push('c'));
    const d = group.submit([5, 6]).then(() => settled.push('d'));
    await tick();
    // Still one flush in flight: c and d wait for it.
    expect(calls).toHaveLength(1);
    expect(settled).toEqual([]);

    calls[0].finish();
    await Promise.all([a, b]);
    await tick();
    expect(settled).toEqual(['a', 'b']);
    expect(calls.map((x) => x.items)).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    calls[1].finish();
    await Promise.all([c, d]);
    expect(settled).toEqual(['a', 'b', 'c', 'd']);
  });

  it('rejects every caller of a failed flush, and only them', async () => {
    const { calls, flush } = controlledFlush();
    const group = new GroupCommit<number>({ flush });
    const first = group.submit([1]);
    const second = group.submit([2]);
    await tick();
    const later = group.submit([3]);
    calls[0].finish(new Error('broker gone'));
    await expect(first).rejects.toThrow('broker gone');
    await expect(second).rejects.toThrow('broker gone');
    await tick();
    expect(calls[1].items).toEqual([3]);
    calls[1].finish();
    await expect(later).resolves.toBeUndefined();
  });

  it('closes a group before the submission that would make it heavier than the bound', async () => {
    const { calls, flush } = controlledFlush();
    const group = new GroupCommit<number>({ flush, maxWeight: 5 });
    const done = [
      group.submit([1, 1, 1]),
      group.submit([2, 2]),
      group.submit([3]),
      group.submit([4, 4, 4, 4, 4, 4, 4]),
    ];
    await tick();
    expect(calls.map((c) => c.items)).toEqual([[1, 1, 1, 2, 2]]);
    calls[0].finish();
    await tick();
    // Alone above the bound: written on its own, as it came.
    expect(calls.map((c) => c.items)[1]).toEqual([3]);
    calls[1].finish();
    await tick();
    expect(calls.map((c) => c.items)[2]).toEqual([4, 4, 4, 4, 4, 4, 4]);
    calls[2].finish();
    await Promise.all(done);
  });

  it('lingers for more submissions up to lingerMs, and flushes early once minWeight is queued', async () => {
    jest.useFakeTimers({ doNotFake: ['setImmediate'] });
    try {
      const { calls, flush } = controlledFlush();
      const group = new GroupCommit<number>({ flush, lingerMs: 200, minWeight: 4 });
      const first = group.submit([1]);
      await tick();
      jest.advanceTimersByTime(150);
      await tick();
      expect(calls).toHaveLength(0);
      const second = group.submit([2]);
      jest.advanceTimersByTime(49);
      await tick();
      expect(calls).toHaveLength(0);
      // 200 ms after the first submission, not after the second.
      jest.advanceTimersByTime(1);
      await tick();
      expect(calls.map((c) => c.items)).toEqual([[1, 2]]);
      calls[0].finish();
      await Promise.all([first, second]);

      const third = group.submit([3, 3]);
      await tick();
      expect(calls).toHaveLength(1);
      const fourth = group.submit([4, 4]);
      await tick();
      // Weight 4 reached: no waiting for the rest of the linger.
      expect(calls.map((c) => c.items)[1]).toEqual([3, 3, 4, 4]);
      calls[1].finish();
      await Promise.all([third, fourth]);
    } finally {
      jest.useRealTimers();
    }
  });

  it('ends a linger once no submission came for quietMs, and keeps lingering while they come', async () => {
    jest.useFakeTimers({ doNotFake: ['setImmediate'] });
    try {
      const { calls, flush } = controlledFlush();
      const group = new GroupCommit<number>({ flush, lingerMs: 200, quietMs: 30 });
      const done = [group.submit([1])];
      await tick();
      // A submission every 20 ms keeps the group open until the linger's end…
      for (let i = 2; i <= 10; i++) {
        jest.advanceTimersByTime(20);
        await tick();
        expect(calls).toHaveLength(0);
        done.push(group.submit([i]));
      }
      // 180 ms after the first: quiet would end at 210, the linger ends at 200.
      jest.advanceTimersByTime(19);
      await tick();
      expect(calls).toHaveLength(0);
      jest.advanceTimersByTime(1);
      await tick();
      expect(calls.map((c) => c.items)).toEqual([[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]]);
      calls[0].finish();
      await Promise.all(done);

      // …and a burst that stops is written 30 ms after its last submission.
      const burst = [group.submit([10]), group.submit([11])];
      await tick();
      jest.advanceTimersByTime(29);
      await tick();
      expect(calls).toHaveLength(1);
      jest.advanceTimersByTime(1);
      await tick();
      expect(calls.map((c) => c.items)[1]).toEqual([10, 11]);
      calls[1].finish();
      await Promise.all(burst);
    } finally {
      jest.useRealTimers();
    }
  });

  it('writes every item exactly once, in submission order, whatever the timing', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ size: fc.integer({ min: 0, max: 4 }), wait: fc.integer({ min: 0, max: 2 }) }), {
          maxLength: 30,
        }),
        fc.integer({ min: 1, max: 8 }),
        fc.constantFrom(0, 1),
        fc.constantFrom(undefined, 0, 1),
        async (submissions, maxWeight, lingerMs, quietMs) => {
          const written: number[][] = [];
          const group = new GroupCommit<number>({
            flush: async (items) => {
              written.push(items);
              await tick();
            },
            maxWeight,
            lingerMs,
            quietMs,
          });
          let next = 0;
          const pending: Promise<void>[] = [];
          for (const { size, wait } of submissions) {
            pending.push(group.submit(Array.from({ length: size }, () => next++)));
            for (let i = 0; i < wait; i++) await tick();
          }
          await Promise.all(pending);
          expect(written.flat()).toEqual(Array.from({ length: next }, (_, i) => i));
          for (const items of written) {
            // A group above the bound holds one submission only.
            if (items.length > maxWeight) expect(submissions.some((s) => s.size === items.length)).toBe(true);
          }
        },
      ),
    );
  });
});
