// The demo's own computation of what the invoice must say, from the events it sent and the plan
// it subscribed to: pooling per ARCHITECTURE.md §5, then overage and price models, with BigInt
// only (quantities as nano-units, prices as exact decimals, one half-to-even rounding per line).
// Written independently of libs/ (the demo is plain Node and only talks to the public APIs), so
// a mismatch with billing's invoice points at a real difference.

const QUANTITY_SCALE = 9;
const NANO = 10n ** 9n;

/** An exact decimal: `coef × 10^-scale`. */
function parseDecimal(text) {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(String(text));
  if (!m) throw new Error(`not a decimal: ${text}`);
  const frac = m[3] ?? '';
  const coef = BigInt(`${m[2]}${frac}`);
  return { coef: m[1] ? -coef : coef, scale: frac.length };
}

const rescale = (d, scale) => d.coef * 10n ** BigInt(scale - d.scale);

function addDecimals(a, b) {
  const scale = Math.max(a.scale, b.scale);
  return { coef: rescale(a, scale) + rescale(b, scale), scale };
}

const times = (d, nano) => ({ coef: d.coef * nano, scale: d.scale + QUANTITY_SCALE });

/** A decimal string (at most 9 places) as integer nano-units. */
export function toNano(text) {
  const d = parseDecimal(text);
  if (d.scale > QUANTITY_SCALE) throw new Error(`more than ${QUANTITY_SCALE} decimal places: ${text}`);
  return rescale(d, QUANTITY_SCALE);
}

/** Nano-units as the shortest decimal string (`12`, `3.25`). */
export function formatNano(nano) {
  const sign = nano < 0n ? '-' : '';
  const abs = nano < 0n ? -nano : nano;
  const frac = (abs % NANO).toString().padStart(QUANTITY_SCALE, '0').replace(/0+$/, '');
  return `${sign}${abs / NANO}${frac ? `.${frac}` : ''}`;
}

/** Rounds half to even to `places` decimals: the integer count of 10^-places. */
function roundHalfEven(d, places) {
  if (d.scale <= places) return rescale(d, places);
  const div = 10n ** BigInt(d.scale - places);
  let q = d.coef / div;
  let r = d.coef % div;
  if (r < 0n) {
    q -= 1n;
    r += div;
  }
  if (2n * r > div || (2n * r === div && q % 2n !== 0n)) q += 1n;
  return q;
}

/** A money string of the currency (`499.00`) as minor units. */
export const toMinor = (text, exponent) => roundHalfEven(parseDecimal(text), exponent);

/** Minor units as `12,345.67`. */
export function formatMinor(minor, exponent = 2) {
  const sign = minor < 0n ? '-' : '';
  const abs = minor < 0n ? -minor : minor;
  const unit = 10n ** BigInt(exponent);
  const whole = (abs / unit).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${sign}${whole}${exponent ? `.${(abs % unit).toString().padStart(exponent, '0')}` : ''}`;
}

// ── pooling (ARCHITECTURE.md §5) ──────────────────────────────────────────────────────────────

/**
 * Pooled usage of one meter over the events `{ tenantId, timeMs, subject, value }` (value in
 * nano-units), each tenant's figure and its contribution (its part of the pooled figure).
 */
export function pool(meter, events) {
  const byTenant = new Map();
  for (const e of events) {
    if (!byTenant.has(e.tenantId)) byTenant.set(e.tenantId, []);
    byTenant.get(e.tenantId).push(e);
  }
  const ids = [...byTenant.keys()].sort();
  switch (meter.aggregation) {
    case 'SUM':
    case 'COUNT': {
      const tenants = ids.map((tenantId) => {
        const usage = byTenant
          .get(tenantId)
          .reduce((s, e) => s + (meter.aggregation === 'COUNT' ? NANO : e.value), 0n);
        return { tenantId, usage, contribution: usage };
      });
      return { pooled: tenants.reduce((s, t) => s + t.usage, 0n), tenants };
    }
    case 'UNIQUE_COUNT': {
      const tenants = ids.map((tenantId) => {
        const usage = BigInt(new Set(byTenant.get(tenantId).map((e) => e.subject)).size) * NANO;
        return { tenantId, usage, contribution: usage };
      });
      if (meter.pooling !== 'distinct-across-tenants') {
        // sum-of-tenants: each app's distinct users added ("cumulative users across all apps").
        return { pooled: tenants.reduce((s, t) => s + t.usage, 0n), tenants };
      }
      // A subject active in several tenants counts once, for the tenant that saw it first.
      const first = new Map();
      for (const e of events) {
        const seen = first.get(e.subject);
        if (!seen || e.timeMs < seen.timeMs || (e.timeMs === seen.timeMs && e.tenantId < seen.tenantId))
          first.set(e.subject, e);
      }
      for (const t of tenants)
        t.contribution = BigInt([...first.values()].filter((e) => e.tenantId === t.tenantId).length) * NANO;
      return { pooled: BigInt(first.size) * NANO, tenants };
    }
    case 'MAX': {
      // Each tenant's max per bucket; per bucket the sum over tenants; the pooled peak is the
      // largest sum (earliest bucket on ties), each tenant contributing its value in that bucket.
      const bucketMs = (meter.bucketSeconds ?? 60) * 1000;
      const perTenant = ids.map((tenantId) => {
        const buckets = new Map();
        for (const e of byTenant.get(tenantId)) {
          const b = Math.floor(e.timeMs / bucketMs) * bucketMs;
          if (!buckets.has(b) || e.value > buckets.get(b)) buckets.set(b, e.value);
        }
        return { tenantId, buckets };
      });
      const sums = new Map();
      for (const { buckets } of perTenant) for (const [b, v] of buckets) sums.set(b, (sums.get(b) ?? 0n) + v);
      let peakBucket;
      let pooled = 0n;
      for (const [b, v] of [...sums].sort((x, y) => x[0] - y[0])) {
        if (peakBucket === undefined || v > pooled) [peakBucket, pooled] = [b, v];
      }
      const tenants = perTenant.map(({ tenantId, buckets }) => ({
        tenantId,
        usage: [...buckets.values()].reduce((m, v) => (v > m ? v : m), 0n),
        contribution: buckets.get(peakBucket) ?? 0n,
      }));
      return { pooled, tenants, peakBucketMs: peakBucket };
    }
    default:
      throw new Error(`the demo does not compute ${meter.aggregation} meters`);
  }
}

// ── rating ────────────────────────────────────────────────────────────────────────────────────

/** Exact amounts per tier for `billable` overage units (nano) under a price model. */
function priceUnits(model, billable) {
  const tier = (i, t, units) => {
    const exact = times(parseDecimal(t.unitPrice), units);
    return { tier: i, units, exact: t.flatFee ? addDecimals(exact, parseDecimal(t.flatFee)) : exact };
  };
  switch (model.type) {
    case 'PER_UNIT':
      return [tier(0, model, billable)];
    case 'GRADUATED': {
      const out = [];
      let below = 0n;
      for (const [i, t] of model.tiers.entries()) {
        if (billable <= below) break;
        const top = t.upTo === undefined ? billable : toNano(t.upTo);
        out.push(tier(i, t, (billable < top ? billable : top) - below));
        below = top;
      }
      return out;
    }
    case 'VOLUME': {
      const i = model.tiers.findIndex((t) => t.upTo === undefined || billable <= toNano(t.upTo));
      return [tier(i, model.tiers[i], billable)];
    }
    case 'PACKAGE': {
      const size = toNano(model.packageSize);
      const packages = (billable + size - 1n) / size;
      return [{ tier: 0, units: billable, exact: times(parseDecimal(model.packagePrice), packages * NANO) }];
    }
    default:
      throw new Error(`unknown price model ${model.type}`);
  }
}

/** A meter line: pooled, included, overage (capped by hardCap), tiers and the amount in minor units. */
export function rate(price, pooled, exponent) {
  const included = toNano(price.included);
  const overage = pooled > included ? pooled - included : 0n;
  const cap = price.hardCap === undefined ? undefined : toNano(price.hardCap);
  const billable = cap !== undefined && overage > cap ? cap : overage;
  const tiers = billable > 0n ? priceUnits(price.overage, billable) : [];
  const exact = tiers.reduce((s, t) => addDecimals(s, t.exact), { coef: 0n, scale: 0 });
  return { pooled, included, overage, billable, tiers, amount: roundHalfEven(exact, exponent) };
}

/**
 * Splits `amount` over tenants in proportion to their contributions: each gets the floor of its
 * exact share, the units left go to the largest remainders (ties: larger weight, then tenant id),
 * so the parts add up to the amount exactly.
 */
export function attribute(amount, tenants) {
  const weights = tenants.map((t) => ({
    key: t.tenantId,
    weight: t.contribution > 0n ? t.contribution : 0n,
  }));
  const total = weights.reduce((s, w) => s + w.weight, 0n);
  const shares = new Map(weights.map((w) => [w.key, 0n]));
  if (total === 0n) return shares;
  const parts = weights.map((w) => {
    const floor = (amount * w.weight) / total;
    return { ...w, floor, remainder: amount * w.weight - floor * total };
  });
  let left = amount - parts.reduce((s, p) => s + p.floor, 0n);
  for (const p of parts) shares.set(p.key, p.floor);
  const order = [...parts].sort((a, b) =>
    a.remainder !== b.remainder
      ? a.remainder > b.remainder
        ? -1
        : 1
      : a.weight !== b.weight
        ? a.weight > b.weight
          ? -1
          : 1
        : a.key < b.key
          ? -1
          : 1,
  );
  for (const p of order) {
    if (left <= 0n) break;
    shares.set(p.key, shares.get(p.key) + 1n);
    left--;
  }
  return shares;
}

/**
 * The invoice the demo expects for a whole period on one plan version: base fee, one line per
 * meter of the plan (with each tenant's quantity and amount), the total.
 */
export function expectedInvoice(plan, meters, eventsByMeter, exponent) {
  const baseFee = toMinor(plan.baseFee, exponent);
  const lines = plan.meters.map((price) => {
    const usage = pool(meters.get(price.meterKey), eventsByMeter.get(price.meterKey) ?? []);
    const rated = rate(price, usage.pooled, exponent);
    const shares = attribute(rated.amount, usage.tenants);
    return {
      meterKey: price.meterKey,
      ...rated,
      usage,
      attribution: usage.tenants.map((t) => ({
        tenantId: t.tenantId,
        quantity: t.contribution,
        amount: shares.get(t.tenantId),
      })),
    };
  });
  return { baseFee, lines, total: lines.reduce((s, l) => s + l.amount, baseFee) };
}
