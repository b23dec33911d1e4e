/// <reference lib="dom" />
import { CHART_COLOURS, stackedBarChart, swatch } from '../charts';
import { compareDecimals } from '../decimal';
import { peakComparison, usageBars } from '../figures';
import { html } from '../html';
import { renderUsageChart, type ViewHost } from './chart-view';
import { legend, meterName, unitOf, utcTime, type AccountContext, headRow } from './context';

/**
 * Peak concurrency: each window's pooled peak stacked by what each tenant had in that window's
 * busiest bucket, against two lines over the whole range: the pooled peak (what is billed) and
 * the sum of the tenants' own peaks (what adding tenant peaks would bill).
 */
export function renderPeak(ctx: AccountContext, host: ViewHost): Promise<void> {
  const gauges = ctx.meters.filter((m) => m.aggregation === 'MAX').map((m) => m.key);
  return renderUsageChart(ctx, host, {
    meters: gauges,
    initialMeter: 'pcc',
    initialRange: 'period',
    draw: (usage, range) => {
      const unit = unitOf(ctx, usage.meter);
      const peak = peakComparison(usage);
      const chart = stackedBarChart({
        title: `${meterName(ctx, usage.meter)}: pooled peak per ${range.window}`,
        unit,
        bars: usageBars(usage, range.window, ctx.directory),
        lines: [
          {
            kind: 'sum-of-peaks',
            label: `sum of tenants' peaks ${peak.sumOfPeaks}`,
            value: peak.sumOfPeaks,
            colour: CHART_COLOURS.sumOfPeaks,
            dashed: true,
          },
          {
            kind: 'pooled-peak',
            label: `pooled peak ${peak.pooledPeak}`,
            value: peak.pooledPeak,
            colour: CHART_COLOURS.pooledPeak,
          },
        ],
      });
      const below = compareDecimals(peak.pooledPeak, peak.sumOfPeaks) < 0;
      const when = peak.peakBucketStart ? html` in the bucket from ${utcTime(peak.peakBucketStart)}` : '';
      const why = below
        ? html`The tenants peaked at different times: the account never had <b>${peak.sumOfPeaks}</b> ${unit}
            at once, so the pooled peak is the busiest bucket's sum, not the sum of peaks.`
        : html`The tenants' peaks fell in the same bucket, so the pooled peak equals their sum.`;
      return {
        content: html`${chart}${legend(
            ctx,
            peak.tenants.map((t) => t.tenantId),
          )}
          <p class="peak-summary">
            Pooled peak
            <b class="pooled-peak" data-value="${peak.pooledPeak}">${peak.pooledPeak}</b> ${unit}${when}; sum
            of the tenants' own peaks
            <b class="sum-of-peaks" data-value="${peak.sumOfPeaks}">${peak.sumOfPeaks}</b> ${unit}. ${why}
          </p>
          <table class="peaks">
            ${headRow(['Tenant', 'Own peak', 'At the pooled peak'])}
            <tbody>
              ${peak.tenants.map(
                (t) =>
                  html`<tr data-tenant="${t.tenantId}">
                    <td>${swatch(ctx.directory.colour(t.tenantId), ctx.directory.name(t.tenantId))}</td>
                    <td class="peak">${t.peak}</td>
                    <td class="at-pooled-peak">${t.atPooledPeak}</td>
                  </tr>`,
              )}
            </tbody>
          </table>`,
        state: usage.events ? 'ready' : 'empty',
      };
    },
  });
}
