import { niceCeiling, quotaColour, quotaGauge, stackedBarChart, CHART_COLOURS, type Bar } from './charts';

/** The tenant segments of a chart's markup, by their attributes. */
function rects(svg: string) {
  return [...svg.matchAll(/<rect\b([^>]*)>/g)]
    .map((m) => Object.fromEntries([...m[1].matchAll(/([\w-]+)="([^"]*)"/g)].map((a) => [a[1], a[2]])))
    .filter((a) => 'data-tenant' in a)
    .map((a) => ({
      y: Number(a.y),
      height: Number(a.height),
      tenant: a['data-tenant'],
      value: a['data-value'],
    }));
}

const bar = (from: string, parts: [string, string][]): Bar => ({
  label: from,
  from,
  total: '',
  segments: parts.map(([tenantId, value]) => ({
    tenantId,
    name: tenantId,
    value,
    colour: tenantId === 'a' ? '#4e79a7' : '#f28e2b',
  })),
});

describe(niceCeiling.name, () => {
  it('rounds up to 1, 2, 2.5 or 5 times a power of ten', () => {
    expect([0, 7, 15, 21, 0.3, 100, 240].map(niceCeiling)).toEqual([0, 10, 20, 25, 0.5, 100, 250]);
  });
});

describe(stackedBarChart.name, () => {
  it('draws segments whose heights are proportional to their values, stacked without gaps', () => {
    const svg = stackedBarChart({
      title: 't',
      bars: [
        bar('w1', [
          ['a', '4'],
          ['b', '2'],
        ]),
        bar('w2', [['a', '1']]),
      ],
    }).value;
    const drawn = rects(svg);
    expect(drawn.map((r) => [r.tenant, r.value])).toEqual([
      ['a', '4'],
      ['b', '2'],
      ['a', '1'],
    ]);
    const [a1, b1, a2] = drawn;
    // Edges fall on whole pixels: each height is within a pixel of its exact value.
    const unit = (a1.height + b1.height + a2.height) / 7;
    expect(Math.abs(a1.height - 4 * unit)).toBeLessThanOrEqual(1);
    expect(Math.abs(b1.height - 2 * unit)).toBeLessThanOrEqual(1);
    expect(Math.abs(a2.height - unit)).toBeLessThanOrEqual(1);
    expect(b1.y + b1.height).toBe(a1.y);
    expect(svg).toContain('data-empty="false"');
  });

  it('puts reference lines on the same scale as the bars', () => {
    const svg = stackedBarChart({
      title: 't',
      bars: [bar('w1', [['a', '10']])],
      lines: [{ kind: 'sum-of-peaks', label: 'sum', value: '20', colour: CHART_COLOURS.sumOfPeaks }],
    }).value;
    const [a] = rects(svg);
    const lineY = Number(/data-kind="sum-of-peaks"[^]*?y1="(\d+)"/.exec(svg)![1]);
    const zeroY = a.y + a.height;
    expect(zeroY - lineY).toBe(2 * a.height);
  });

  it('puts gridlines on nice steps above the highest figure', () => {
    const svg = stackedBarChart({
      title: 't',
      bars: [bar('w1', [['a', '7']])],
      lines: [{ kind: 'k', label: 'l', value: '21', colour: '#000000' }],
    }).value;
    const labels = [...svg.matchAll(/class="y-label"[^>]*>([^<]+)</g)].map((m) => m[1]);
    expect(labels).toEqual(['0', '10', '20', '30']);
  });

  it('stacks corrections below zero', () => {
    const drawn = rects(
      stackedBarChart({
        title: 't',
        bars: [
          bar('w1', [
            ['a', '3'],
            ['b', '-1'],
          ]),
        ],
      }).value,
    );
    expect(drawn[1].y).toBe(drawn[0].y + drawn[0].height);
  });

  it('keeps its frame and says so when there is nothing to draw', () => {
    const svg = stackedBarChart({ title: 't', bars: [bar('w1', [['a', '0']]), bar('w2', [])] }).value;
    expect(rects(svg)).toEqual([]);
    expect(svg).toContain('data-empty="true"');
    expect(svg).toContain('No usage in this range');
  });

  it('escapes tenant names in tooltips', () => {
    const chart = stackedBarChart({
      title: 't',
      bars: [
        {
          ...bar('w', [['a', '1']]),
          segments: [{ tenantId: 'a', name: '<b>x</b>', value: '1', colour: '#000000' }],
        },
      ],
    });
    expect(chart.value).toContain('&lt;b&gt;x&lt;/b&gt;: 1');
  });
});

describe(quotaGauge.name, () => {
  it('fills the arc in proportion up to 100 %, coloured by state', () => {
    expect(quotaColour(79.99)).toBe(CHART_COLOURS.ok);
    expect(quotaColour(80)).toBe(CHART_COLOURS.warn);
    expect(quotaColour(175)).toBe(CHART_COLOURS.over);
    const over = quotaGauge({ meter: 'api_calls', percentUsed: '175.00' }).value;
    expect(over).toContain(`stroke="${CHART_COLOURS.over}"`);
    // Full: the value arc ends where the track ends.
    const arcs = [...over.matchAll(/ d="([^"]+)"/g)].map((m) => m[1]);
    expect(arcs[1]).toBe(arcs[0]);
  });

  it('draws no value arc at 0 %', () => {
    expect(quotaGauge({ meter: 'voice_minutes', percentUsed: '0.00' }).value).not.toContain('gauge-value');
  });
});
