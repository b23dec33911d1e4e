import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { runWithContext } from './context';
import type { Metrics } from './metrics';

const CORRELATION_HEADER = 'x-correlation-id';
const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Gives each request a correlation id (the caller's, when well-formed) and times it. */
export function requestContextMiddleware(metrics: Metrics) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const given = req.header(CORRELATION_HEADER);
    const correlationId = given && SAFE_ID.test(given) ? given : randomUUID();
    res.setHeader(CORRELATION_HEADER, correlationId);
    const end = metrics.httpDuration.startTimer({ method: req.method });
    res.on('finish', () => {
      const route = (req.route as { path?: string } | undefined)?.path ?? 'unmatched';
      end({ route, status: String(res.statusCode) });
    });
    runWithContext({ correlationId }, next);
  };
}
