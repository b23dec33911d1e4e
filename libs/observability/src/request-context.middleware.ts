import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { runWithContext } from './context';
import type { Metrics } from './metrics';

const CORRELATION_HEADER = 'x-correlation-id';
const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** A request as routers leave it: `route.path` names the route that answered it. */
type RoutedRequest = IncomingMessage & { route?: { path?: string } };

/**
 * Gives each request a correlation id (the caller's, when well-formed) and times it. Plain
 * `node:http` types, so it serves express and the routes answered before it alike.
 */
export function requestContextMiddleware(metrics: Metrics) {
  return (req: RoutedRequest, res: ServerResponse, next: () => void): void => {
    const given = req.headers[CORRELATION_HEADER];
    const correlationId = typeof given === 'string' && SAFE_ID.test(given) ? given : randomUUID();
    res.setHeader(CORRELATION_HEADER, correlationId);
    const end = metrics.httpDuration.startTimer({ method: req.method });
    res.on('finish', () => {
      end({ route: req.route?.path ?? 'unmatched', status: String(res.statusCode) });
    });
    runWithContext({ correlationId }, next);
  };
}
