/// <reference lib="dom" />
import { stackedBarChart } from '../charts';
import { usageBars } from '../figures';
import { html } from '../html';
import { renderUsageChart, type ViewHost } from './chart-view';
import { legend, meterName, unitOf, type AccountContext } from './context';

/** Usage over time of one meter, one bar per window stacked by tenant. */
export function renderUsage(ctx: AccountContext, host: ViewHost): Promise<void> {
  const planned = ctx.quotas instanceof Error ? [] : ctx.quotas.meters.map((q) => q.meter);
  return renderUsageChart(ctx, host, {
    meters: ctx.meters.map((m) => m.key),
    initialMeter: planned[0],
    initialRange: 'period',
    draw: (usage, range) => {
      const bars = usageBars(usage, range.window, ctx.directory);
      const unit = unitOf(ctx, usage.meter);
      const chart = stackedBarChart({
        title: `${meterName(ctx, usage.meter)} per ${range.window}`,
        unit,
        bars,
      });
      return {
        content: html`${chart}${legend(
            ctx,
            bars.flatMap((b) => b.segments.filter((s) => Number(s.value) !== 0).map((s) => s.tenantId)),
          )}
          <p class="total">
            Pooled over the range: <b class="pooled" data-value="${usage.value}">${usage.value}</b> ${unit}
            from ${usage.events} events.
          </p>`,
        state: usage.events ? 'ready' : 'empty',
      };
    },
  });
}
