import { ApiError } from '../api';
import { quotaGauge, swatch } from '../charts';
import { compareDecimals } from '../decimal';
import { html, type Html } from '../html';
import type { MeterQuota } from '../types';
import { meterName, unitOf, utcTime, type AccountContext, type ViewState } from './context';

const TOP_TENANTS = 5;

function meterCard(ctx: AccountContext, q: MeterQuota): Html {
  const unit = unitOf(ctx, q.meter);
  const top = [...q.tenants]
    .filter((t) => compareDecimals(t.contribution, '0') !== 0)
    .sort((a, b) => compareDecimals(b.contribution, a.contribution))
    .slice(0, TOP_TENANTS);
  return html`<article
    class="card quota"
    data-meter="${q.meter}"
    data-used="${q.used}"
    data-included="${q.included}"
    data-overage="${q.overage}"
    data-percent="${q.percentUsed}"
  >
    <h3>${meterName(ctx, q.meter)} <small>${q.meter}</small></h3>
    <div class="chart-box" data-chart="gauge" data-meter="${q.meter}">${quotaGauge(q)}</div>
    <dl>
      <dt>Used</dt>
      <dd class="used">${q.used} ${unit}</dd>
      <dt>Included</dt>
      <dd class="included">${q.included} ${unit}</dd>
      <dt>Remaining</dt>
      <dd class="remaining">${q.remaining}</dd>
      <dt>Overage</dt>
      <dd class="overage">${q.overage}</dd>
      ${
        q.hardCap
          ? html`<dt>Hard cap</dt>
              <dd class="hard-cap">${q.hardCap}</dd>`
          : ''
      }
    </dl>
    ${
      top.length
        ? html`<p class="top-tenants">
            ${top.map(
              (t) =>
                html`<span
                  >${swatch(ctx.directory.colour(t.tenantId), ctx.directory.name(t.tenantId))}
                  ${t.contribution}</span
                >`,
            )}
          </p>`
        : ''
    }
  </article>`;
}

/** Pooled quota gauges per meter of the plan, for the current period. */
export function renderQuotas(ctx: AccountContext, body: HTMLElement): ViewState {
  const quotas = ctx.quotas;
  if (quotas instanceof Error) {
    if (quotas instanceof ApiError && quotas.code === 'no_subscription') {
      body.innerHTML = html`<p class="empty">This account has no subscription, so no quotas.</p>`.value;
      return 'empty';
    }
    throw quotas;
  }
  body.innerHTML = html`<p class="sub">
      Plan <b>${quotas.planId}</b> v${quotas.planVersion} · period
      <span class="period" data-start="${quotas.period.start}" data-end="${quotas.period.end}"
        >${utcTime(quotas.period.start)} – ${utcTime(quotas.period.end)}</span
      >
      · as of ${utcTime(quotas.asOf)}
    </p>
    <div class="cards">${quotas.meters.map((q) => meterCard(ctx, q))}</div>`.value;
  return quotas.meters.length ? 'ready' : 'empty';
}
