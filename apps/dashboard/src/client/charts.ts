import { html, type Html } from './html';

// Hand-drawn SVG charts. Quantities keep their exact strings for labels and data attributes;
// only the geometry uses numbers.

export const CHART_COLOURS = {
  grid: '#e9ecef',
  axis: '#868e96',
  text: '#495057',
  track: '#e9ecef',
  ok: '#2f9e44',
  warn: '#f08c00',
  over: '#e03131',
  pooledPeak: '#111827',
  sumOfPeaks: '#d6336c',
} as const;

export interface Segment {
  tenantId: string;
  name: string;
  value: string;
  colour: string;
}

export interface Bar {
  /** Axis label of the window. */
  label: string;
  from: string;
  total: string;
  segments: Segment[];
}

export interface ReferenceLine {
  kind: string;
  label: string;
  value: string;
  colour: string;
  dashed?: boolean;
}

export interface StackedChart {
  title: string;
  unit?: string;
  bars: Bar[];
  lines?: ReferenceLine[];
}

const WIDTH = 760;
const HEIGHT = 280;
const MARGIN = { top: 16, right: 16, bottom: 28, left: 56 };
const MAX_X_LABELS = 12;

/** The smallest of 1, 2, 2.5, 5 × 10ⁿ at or above `value` (0 stays 0). */
export function niceCeiling(value: number): number {
  if (value <= 0) return 0;
  const power = 10 ** Math.floor(Math.log10(value));
  const step = [1, 2, 2.5, 5, 10].find((s) => s * power >= value * (1 - 1e-12))!;
  return step * power;
}

const tickLabel = (value: number): string =>
  Number.isInteger(value) ? value.toLocaleString('en-US') : String(Number(value.toPrecision(6)));

/** Positive parts stack up from zero, negative ones (corrections) down from it. */
function stackExtent(bar: Bar): { up: number; down: number } {
  let up = 0;
  let down = 0;
  for (const s of bar.segments) {
    const v = Number(s.value);
    if (v > 0) up += v;
    else down += v;
  }
  return { up, down };
}

/**
 * Bars stacked by tenant, one per window, with optional horizontal reference lines. Every
 * segment carries its tenant, window and exact value as data attributes and a tooltip; a
 * chart with nothing to show keeps its frame and says so.
 */
export function stackedBarChart(chart: StackedChart): Html {
  const extents = chart.bars.map(stackExtent);
  const lineValues = (chart.lines ?? []).map((l) => Number(l.value));
  const highest = Math.max(0, ...extents.map((e) => e.up), ...lineValues);
  const lowest = Math.min(0, ...extents.map((e) => e.down));
  const empty = highest === 0 && lowest === 0;
  // Gridlines every nice step (1, 2, 2.5 or 5 × 10ⁿ), about four of them.
  const step = empty ? 1 : niceCeiling((highest - lowest) / 4);
  const top = Math.ceil(highest / step) * step;
  const bottom = Math.floor(lowest / step) * step;
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  // An empty chart keeps its zero line at the bottom.
  const [high, span] = empty ? [1, 1] : [top, top - bottom];
  const y = (v: number) => Math.round(MARGIN.top + ((high - v) / span) * plotH);
  const ticks = empty
    ? [0]
    : Array.from({ length: Math.round(span / step) + 1 }, (_, i) => bottom + i * step);
  const slot = plotW / Math.max(1, chart.bars.length);
  const barW = Math.max(1, Math.floor(slot * 0.8));
  const labelEvery = Math.ceil(chart.bars.length / MAX_X_LABELS);

  const bars = chart.bars.map((bar, i) => {
    const x = Math.round(MARGIN.left + i * slot + (slot - barW) / 2);
    let up = 0;
    let down = 0;
    const rects = bar.segments.map((s) => {
      const v = Number(s.value);
      if (v === 0) return '';
      const from = v > 0 ? up : down;
      const to = from + v;
      if (v > 0) up = to;
      else down = to;
      const [y1, y2] = [y(Math.max(from, to)), y(Math.min(from, to))];
      return html`<rect
        x="${x}"
        y="${y1}"
        width="${barW}"
        height="${y2 - y1}"
        fill="${s.colour}"
        data-tenant="${s.tenantId}"
        data-value="${s.value}"
        ><title>${s.name}: ${s.value}${chart.unit ? ` ${chart.unit}` : ''}</title></rect
      >`;
    });
    const label =
      i % labelEvery === 0
        ? html`<text class="x-label" x="${x + barW / 2}" y="${HEIGHT - 8}" text-anchor="middle"
            >${bar.label}</text
          >`
        : '';
    return html`<g class="bar" data-window="${bar.from}" data-total="${bar.total}">${rects}${label}</g>`;
  });

  const grid = ticks.map(
    (t) =>
      html`<line
          x1="${MARGIN.left}"
          x2="${WIDTH - MARGIN.right}"
          y1="${y(t)}"
          y2="${y(t)}"
          stroke="${CHART_COLOURS.grid}"
        />
        <text class="y-label" x="${MARGIN.left - 6}" y="${y(t) + 4}" text-anchor="end"
          >${tickLabel(t)}</text
        >`,
  );
  const lines = (chart.lines ?? []).map(
    (l) =>
      html`<g class="reference" data-kind="${l.kind}" data-value="${l.value}">
        <line
          x1="${MARGIN.left}"
          x2="${WIDTH - MARGIN.right}"
          y1="${y(Number(l.value))}"
          y2="${y(Number(l.value))}"
          stroke="${l.colour}"
          stroke-width="3"
          ${l.dashed ? html` stroke-dasharray="10 6"` : ''}
        />
        <text x="${WIDTH - MARGIN.right}" y="${y(Number(l.value)) - 6}" text-anchor="end" fill="${l.colour}"
          >${l.label}</text
        >
      </g>`,
  );
  const note = empty
    ? html`<text
        class="empty-note"
        x="${MARGIN.left + plotW / 2}"
        y="${MARGIN.top + plotH / 2}"
        text-anchor="middle"
        >No usage in this range</text
      >`
    : '';
  return html`<svg
    class="chart"
    viewBox="0 0 ${WIDTH} ${HEIGHT}"
    width="${WIDTH}"
    height="${HEIGHT}"
    role="img"
    aria-label="${chart.title}"
    shape-rendering="crispEdges"
    data-empty="${String(empty)}"
  >
    ${grid}${bars}
    <line
      x1="${MARGIN.left}"
      x2="${WIDTH - MARGIN.right}"
      y1="${y(0)}"
      y2="${y(0)}"
      stroke="${CHART_COLOURS.axis}"
    />
    ${lines}${note}
  </svg>`;
}

export interface GaugeFigures {
  meter: string;
  /** Used share of the included quantity in percent, as the API gives it (`'75.00'`). */
  percentUsed: string;
}

/** The colour of a quota's state: within it, past 80 %, or in overage. */
export function quotaColour(percentUsed: number): string {
  if (percentUsed >= 100) return CHART_COLOURS.over;
  if (percentUsed >= 80) return CHART_COLOURS.warn;
  return CHART_COLOURS.ok;
}

const GAUGE = { size: 180, radius: 70, stroke: 16, sweep: 240 };

function arcPoint(degrees: number): [number, number] {
  const rad = ((degrees - 90) * Math.PI) / 180;
  const c = GAUGE.size / 2;
  return [c + GAUGE.radius * Math.cos(rad), c + GAUGE.radius * Math.sin(rad)];
}

/** An arc from `start` clockwise over `sweep` degrees (0° is straight up). */
function arcPath(start: number, sweep: number): string {
  const [x1, y1] = arcPoint(start);
  const [x2, y2] = arcPoint(start + sweep);
  const f = (n: number) => n.toFixed(2);
  return `M ${f(x1)} ${f(y1)} A ${GAUGE.radius} ${GAUGE.radius} 0 ${sweep > 180 ? 1 : 0} 1 ${f(x2)} ${f(y2)}`;
}

/** A 240° gauge of the included quantity used; full (and red) at or past 100 %. */
export function quotaGauge(figures: GaugeFigures): Html {
  const percent = Number(figures.percentUsed);
  const start = -GAUGE.sweep / 2;
  const filled = (GAUGE.sweep * Math.min(Math.max(percent, 0), 100)) / 100;
  const common = html`fill="none" stroke-width="${GAUGE.stroke}" stroke-linecap="butt"`;
  const value =
    filled > 0
      ? html`<path
          class="gauge-value"
          d="${arcPath(start, filled)}"
          stroke="${quotaColour(percent)}"
          ${common}
        />`
      : '';
  return html`<svg
    class="gauge"
    viewBox="0 0 ${GAUGE.size} ${GAUGE.size - 30}"
    width="${GAUGE.size}"
    height="${GAUGE.size - 30}"
    role="img"
    aria-label="${figures.meter}: ${figures.percentUsed}% of included"
    data-percent="${figures.percentUsed}"
  >
    <path class="gauge-track" d="${arcPath(start, GAUGE.sweep)}" stroke="${CHART_COLOURS.track}" ${common} />
    ${value}
    <text x="${GAUGE.size / 2}" y="${GAUGE.size / 2 + 8}" text-anchor="middle" class="gauge-percent">
      ${figures.percentUsed}%
    </text>
  </svg>`;
}

/** A legend entry: a colour swatch and a name. */
export const swatch = (colour: string, name: string): Html =>
  html`<span class="swatch"
    ><svg width="12" height="12" aria-hidden="true"><rect width="12" height="12" fill="${colour}" /></svg
    >${name}</span
  >`;
