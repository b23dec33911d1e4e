/// <reference lib="dom" />
import { rangeOf, RANGES, type RangeKey, type UsageRange } from '../figures';
import { html, type Html } from '../html';
import type { Usage } from '../types';
import { meterName, options, type AccountContext, type ViewState } from './context';

/** A section's body and a way to report its state while it reloads on its own. */
export interface ViewHost {
  body: HTMLElement;
  /** Runs a (re)load: `loading` meanwhile, then its outcome or the error it failed with. */
  run(load: () => Promise<ViewState> | ViewState): Promise<void>;
}

export interface UsageChartSpec {
  /** Meters to choose from, the first chosen at start unless `initialMeter` is among them. */
  meters: string[];
  initialMeter?: string;
  initialRange: RangeKey;
  /** The chart and its explanation for one usage answer. */
  draw(usage: Usage, range: UsageRange): { content: Html; state: ViewState };
}

/**
 * A usage chart with a meter and a range picker: reads `GET /v1/usage` of the account with one
 * window per bar, and again whenever a picker changes.
 */
export async function renderUsageChart(ctx: AccountContext, host: ViewHost, spec: UsageChartSpec) {
  if (!spec.meters.length) {
    host.body.innerHTML = html`<p class="empty">No meter of this kind in the catalog.</p>`.value;
    return host.run(() => 'empty');
  }
  let meter =
    spec.initialMeter && spec.meters.includes(spec.initialMeter) ? spec.initialMeter : spec.meters[0];
  let rangeKey = spec.initialRange;
  const meterChoices = spec.meters.map((m) => [m, meterName(ctx, m)] as const);
  const rangeChoices = Object.entries(RANGES) as [RangeKey, string][];
  host.body.innerHTML = html`<div class="controls">
      <label
        >Meter
        <select name="meter">
          ${options(meterChoices, meter)}
        </select></label
      >
      <label
        >Range
        <select name="range">
          ${options(rangeChoices, rangeKey)}
        </select></label
      >
    </div>
    <div class="chart-area"></div>`.value;
  const area = host.body.querySelector<HTMLElement>('.chart-area')!;
  const period = ctx.quotas instanceof Error ? undefined : ctx.quotas.period;

  const load = async (): Promise<ViewState> => {
    const range = rangeOf(rangeKey, Date.now(), period);
    const usage = await ctx.api.get<Usage>('aggregation', '/v1/usage', {
      meter,
      accountId: ctx.account.id,
      ...range,
    });
    const { content, state } = spec.draw(usage, range);
    area.innerHTML = html`<div
      class="chart-box"
      data-chart="stacked"
      data-meter="${meter}"
      data-from="${range.from}"
      data-to="${range.to}"
      data-window="${range.window}"
    >
      ${content}
    </div>`.value;
    return state;
  };
  const picker = (name: string, set: (value: string) => void) =>
    host.body.querySelector<HTMLSelectElement>(`select[name=${name}]`)!.addEventListener('change', (e) => {
      set((e.target as HTMLSelectElement).value);
      void host.run(load);
    });
  picker('meter', (v) => (meter = v));
  picker('range', (v) => (rangeKey = v as RangeKey));
  await host.run(load);
}
