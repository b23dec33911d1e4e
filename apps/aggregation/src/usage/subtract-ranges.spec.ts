import fc from 'fast-check';
import { subtractRanges } from './usage.service';

describe('subtractRanges', () => {
  it('keeps exactly the points of the ranges that no hole covers', () => {
    const range = fc
      .tuple(fc.nat({ max: 100 }), fc.nat({ max: 20 }))
      .map(([fromMs, len]) => ({ fromMs, toMs: fromMs + len }));
    fc.assert(
      fc.property(fc.array(range, { maxLength: 4 }), fc.array(range, { maxLength: 6 }), (ranges, holes) => {
        const kept = subtractRanges(ranges, holes);
        const inside = (x: number, rs: { fromMs: number; toMs: number }[]) =>
          rs.some((r) => x >= r.fromMs && x < r.toMs);
        for (let x = 0; x < 130; x++) {
          expect(inside(x, kept)).toBe(inside(x, ranges) && !inside(x, holes));
        }
      }),
    );
  });
});
