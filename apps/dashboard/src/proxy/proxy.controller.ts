import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { Controller, Get, Inject, Param, Req, Res } from '@nestjs/common';
import { ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { AppError } from '@metering/contracts';
import { LOGGER, currentContext, type Logger } from '@metering/observability';
import { DashboardConfig } from '../config';
import { PROXIED_SERVICES, proxiedRest, upstreamUrl, upstreamsOf, type Upstreams } from './upstreams';

/** Request headers passed on: the caller's key and what it accepts. Nothing is added. */
const FORWARDED_REQUEST = ['authorization', 'accept'];
/** Response headers passed back besides the status and body. */
const FORWARDED_RESPONSE = ['content-type', 'content-disposition', 'retry-after'];

/**
 * Same-origin access to the services' REST APIs for the page, so the browser needs no CORS: a GET
 * on `/api/<service>/v1/…` is sent to the service with the caller's own management key and
 * answered as the service answered. The dashboard holds no credential of its own; the services
 * decide what the key may read.
 */
@ApiTags('proxy')
@Controller('api')
export class ProxyController {
  private readonly upstreams: Upstreams;

  constructor(
    private readonly config: DashboardConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.upstreams = upstreamsOf(config);
  }

  @Get(':service/*path')
  @ApiOperation({
    summary:
      "GET /v1/… of a service (tenant-registry, aggregation, billing, audit) with the caller's Authorization header, answered as the service answers",
  })
  @ApiParam({ name: 'service', enum: PROXIED_SERVICES })
  @ApiParam({ name: 'path', description: 'the service path after /api/<service>/, starting with v1/' })
  async forward(@Param('service') service: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    const target = upstreamUrl(this.upstreams, service, proxiedRest(req.originalUrl));
    const headers = new Headers();
    for (const name of FORWARDED_REQUEST) {
      const value = req.header(name);
      if (value) headers.set(name, value);
    }
    const correlationId = currentContext().correlationId;
    if (correlationId) headers.set('x-correlation-id', correlationId);

    // The upstream request ends with the caller's: a closed tab stops a long verification read.
    const cancel = new AbortController();
    res.once('close', () => cancel.abort());
    let upstream: globalThis.Response;
    try {
      upstream = await fetch(target, {
        headers,
        redirect: 'manual',
        signal: AbortSignal.any([cancel.signal, AbortSignal.timeout(this.config.UPSTREAM_TIMEOUT_MS)]),
      });
    } catch (err) {
      throw this.unavailable(service, err);
    }
    res.status(upstream.status);
    for (const name of FORWARDED_RESPONSE) {
      const value = upstream.headers.get(name);
      if (value) res.setHeader(name, value);
    }
    // Answers carry one key's view of billing data: never stored by the browser or a cache.
    res.setHeader('cache-control', 'no-store');
    if (!upstream.body) {
      res.end();
      return;
    }
    try {
      await pipeline(Readable.fromWeb(upstream.body as WebReadableStream<Uint8Array>), res);
    } catch (err) {
      if (!cancel.signal.aborted) this.logger.warn({ err, service }, 'proxied answer ended early');
    }
  }

  private unavailable(service: string, err: unknown): AppError {
    const timedOut = err instanceof DOMException && err.name === 'TimeoutError';
    if (!timedOut) this.logger.warn({ err, service }, 'service not reachable');
    return timedOut
      ? new AppError(
          'unavailable',
          'upstream_timeout',
          `${service} did not answer within ${this.config.UPSTREAM_TIMEOUT_MS} ms`,
          { service },
        )
      : new AppError('unavailable', 'upstream_unavailable', `${service} is not reachable`, { service });
  }
}
