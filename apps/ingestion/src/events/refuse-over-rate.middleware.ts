import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { enrichContext } from '@metering/observability';
import { answerError } from '@metering/service-kit';
import type { TenantAuthService } from '../auth/tenant-auth.service';
import { overRateError, type TenantRateLimiter } from './tenant-rate-limiter';

const EVENTS_PATH = /^\/v1\/events\/?$/i;

export interface HoldLimits {
  /** Longest a request is held before it is answered. */
  maxHoldMs: number;
  /** Most requests held at once by the process; past it they are answered at once. */
  maxHeld: number;
}

const DEFAULT_HOLD: HoldLimits = { maxHoldMs: 1_000, maxHeld: 1_000 };

/**
 * `POST /v1/events` of a tenant over its rate, refused before its body is read or parsed: a
 * client that keeps re-sending large batches without waiting as a 429 advises would otherwise
 * make every refusal cost the shared process the whole body. Only what is known without a body
 * and without calling anyone counts: a key this instance accepted recently (any other goes the
 * normal path, which authenticates it) and what the limiter admits unread for its tenant
 * (`TenantRateLimiter.admitUnread`). Takes no tokens: admitted requests are counted per event later.
 *
 * A request not admitted is held first, unread, until it could be or for `maxHoldMs`: then it goes
 * on as usual, or gets the 429 (with `Retry-After`) the normal path gives. Answered at once, a
 * client that ignores the advice would only loop faster, each loop costing the process the same
 * request handling whatever the body; held, a connection costs nothing (Node stops reading it
 * once its buffer is full). A client that waits as advised is not delayed by it: the hold is time
 * it would have waited anyway, and the `Retry-After` it then gets is only what is left.
 */
export function refuseOverRateUnread(
  tenants: Pick<TenantAuthService, 'recentTenant'>,
  limiter: TenantRateLimiter,
  limits: HoldLimits = DEFAULT_HOLD,
): RequestHandler {
  let held = 0;
  return (req: Request, res: Response, next: NextFunction): void => {
    if (req.method !== 'POST' || !EVENTS_PATH.test(req.path)) return next();
    const tenant = tenants.recentTenant(req.header('authorization'));
    const waitMs = tenant ? limiter.admitUnread(tenant.tenantId) : 0;
    if (!tenant || waitMs <= 0) return next();
    enrichContext(tenant);

    const answer = () => {
      const stillMs = limiter.admitUnread(tenant.tenantId);
      if (stillMs <= 0) return next();
      const retryAfterSeconds = Math.max(1, Math.ceil(stillMs / 1000));
      // The body stays unread. Once this answer is sent, Node discards the rest of it as it arrives
      // (no parsing, no buffering) and the connection stays open for the client's next request:
      // closing it instead could reset the connection under a client still sending, losing the answer.
      answerError(res, overRateError(limiter, tenant.tenantId, retryAfterSeconds));
    };
    if (held >= limits.maxHeld) return answer();

    held++;
    const release = () => {
      held--;
      res.off('close', abandon);
    };
    const timer = setTimeout(
      () => {
        release();
        answer();
      },
      Math.min(waitMs, limits.maxHoldMs),
    );
    // A client that gives up while held frees its place.
    const abandon = () => {
      clearTimeout(timer);
      release();
    };
    res.once('close', abandon);
  };
}
