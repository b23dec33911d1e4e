import { windowsOf } from './usage-windows';

const t = (iso: string) => Date.parse(iso);
const iso = (ws: { fromMs: number; toMs: number }[]) =>
  ws.map((w) => [new Date(w.fromMs).toISOString(), new Date(w.toMs).toISOString()]);

describe('windowsOf', () => {
  it('clips the first and last window to the range', () => {
    expect(iso(windowsOf(t('2026-11-01T10:30:00Z'), t('2026-11-01T12:15:00Z'), 'hour') ?? [])).toEqual([
      ['2026-11-01T10:30:00.000Z', '2026-11-01T11:00:00.000Z'],
      ['2026-11-01T11:00:00.000Z', '2026-11-01T12:00:00.000Z'],
      ['2026-11-01T12:00:00.000Z', '2026-11-01T12:15:00.000Z'],
    ]);
  });

  it('follows calendar months, short ones included', () => {
    expect(iso(windowsOf(t('2026-01-31T00:00:00Z'), t('2026-03-02T00:00:00Z'), 'month') ?? [])).toEqual([
      ['2026-01-31T00:00:00.000Z', '2026-02-01T00:00:00.000Z'],
      ['2026-02-01T00:00:00.000Z', '2026-03-01T00:00:00.000Z'],
      ['2026-03-01T00:00:00.000Z', '2026-03-02T00:00:00.000Z'],
    ]);
  });

  it('refuses more windows than allowed', () => {
    expect(windowsOf(0, 10 * 60_000, 'minute', 9)).toBeUndefined();
    expect(windowsOf(0, 10 * 60_000, 'minute', 10)).toHaveLength(10);
  });
});
