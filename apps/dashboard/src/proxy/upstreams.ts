import { AppError } from '@metering/contracts';
import type { DashboardConfig } from '../config';

/** The services the page may read, by the name in `/api/<service>/…`. */
export const PROXIED_SERVICES = ['tenant-registry', 'aggregation', 'billing', 'audit'] as const;
export type ProxiedService = (typeof PROXIED_SERVICES)[number];

export type Upstreams = Record<ProxiedService, string>;

export function upstreamsOf(config: DashboardConfig): Upstreams {
  return {
    'tenant-registry': config.REGISTRY_API_URL,
    aggregation: config.AGGREGATION_API_URL,
    billing: config.BILLING_API_URL,
    audit: config.AUDIT_API_URL,
  };
}

const isProxied = (name: string): name is ProxiedService =>
  (PROXIED_SERVICES as readonly string[]).includes(name);

/**
 * What follows `/api/<service>` in a request's URL as sent: its path and query. Cut after the
 * second segment, not at the length of the service's name: the router decodes that segment
 * (`/api/%61udit/…` is `audit`), so its length as sent may differ.
 */
export const proxiedRest = (originalUrl: string): string => originalUrl.replace(/^\/[^/?#]*\/[^/?#]*/, '');

/**
 * The service URL a proxied request goes to: `rest` (path and query after `/api/<service>`)
 * appended to the service's base URL. Only the versioned API (`/v1/…`) is reachable: a path that
 * resolves anywhere else once dot segments are removed (`/v1/../health`, `%2e%2e`), or that is no
 * URL at all, is refused.
 */
export function upstreamUrl(upstreams: Upstreams, service: string, rest: string): URL {
  if (!isProxied(service)) {
    throw new AppError('not_found', 'unknown_service', `no service ${service} behind /api`, {
      field: 'service',
      services: PROXIED_SERVICES,
    });
  }
  const base = new URL(upstreams[service]);
  const basePath = base.pathname.replace(/\/+$/, '');
  const target = URL.parse(`${base.origin}${basePath}${rest}`);
  if (!target || target.origin !== base.origin || !target.pathname.startsWith(`${basePath}/v1/`)) {
    throw new AppError('not_found', 'not_proxied', `only /v1/… of ${service} is reachable here`, {
      field: 'path',
    });
  }
  return target;
}
