import 'reflect-metadata';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { type DynamicModule, type INestApplication, Module, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { loadConfigOrExit, redactConfig, type ServiceConfig } from '@metering/config';
import { AppError } from '@metering/contracts';
import {
  LOGGER,
  Metrics,
  ObservabilityModule,
  PinoNestLogger,
  createLogger,
  requestContextMiddleware,
  type Logger,
} from '@metering/observability';
import { HttpErrorFilter, answerError, answerJson } from './http-error.filter';
import { createValidationPipe } from './validation.pipe';

export interface ServiceDefinition<C extends ServiceConfig> {
  /** The service name, as in logs, metrics and docs. */
  name: string;
  description: string;
  configClass: new () => C;
  /** The app's root module, given its validated config. */
  module: (config: C) => Type | DynamicModule;
  /** Largest accepted request body in bytes (default 1 MiB). */
  bodyLimit?: (config: C) => number;
  /** Extra JSON media types the service accepts besides application/json. */
  jsonMediaTypes?: string[];
  /**
   * Paths (exact, without query) whose body reaches the handler unparsed, as a Buffer of any media
   * type: for signatures computed over the bytes sent (webhooks). Every other path parses JSON.
   */
  rawBodyPaths?: string[];
  /**
   * Middleware that runs before any body is read or parsed, made from the app's providers: for
   * refusals that must not cost the process the body (ingestion's tenants over their rate).
   */
  beforeBody?: (app: INestApplication) => RequestHandler;
  /**
   * Routes of a product's hot path answered before express and Nest's router (see `DirectRoute`),
   * made from the app's providers.
   */
  directRoutes?: (app: INestApplication) => DirectRoute[];
}

/**
 * A JSON route answered straight from the HTTP server's request event, for checks a product
 * makes on its own hot path: the request gets its correlation id and timing, its JSON body is
 * read with the service's body limits, and the answer — or the error, in the services' error
 * shape — is written without express's response helpers or Nest's router. `answer` does what a
 * guarded controller method does (authenticate, validate, handle), by calling the same code.
 * Only the exact path matches; any other spelling of it reaches the controller route as before.
 * Middleware of the service (`beforeBody`) does not run for it.
 */
export interface DirectRoute {
  method: 'POST';
  /** The exact path, without query. */
  path: string;
  /** The 200 answer's body, given the request and its parsed JSON body. */
  answer(req: IncomingMessage, body: unknown): Promise<object>;
}

/**
 * A path that is not percent-encoded UTF-8 (`/v1/tenants/%E0`) is refused before routing, naming
 * it, rather than failing while the router decodes its parameters.
 */
function refuseMalformedPath(req: Request, res: Response, next: NextFunction): void {
  try {
    decodeURIComponent(req.path);
  } catch {
    answerError(
      res,
      new AppError('invalid', 'malformed_path', 'the path is not percent-encoded UTF-8', [
        { field: 'path', reasons: ['must be percent-encoded UTF-8'] },
      ]),
    );
    return;
  }
  next();
}

type BodyReader = (req: IncomingMessage, res: ServerResponse, done: (err?: unknown) => void) => void;

/**
 * Puts `routes` in front of the server's request listener (express): a request for one of them is
 * answered here, every other request goes on to express unchanged.
 */
function answerDirectRoutesFirst(
  server: Server,
  routes: DirectRoute[],
  edge: {
    requestContext: ReturnType<typeof requestContextMiddleware>;
    readJson: BodyReader;
    logger: Logger;
  },
): void {
  const byKey = new Map(routes.map((route) => [`${route.method} ${route.path}`, route]));
  const [onwards, ...others] = server.listeners('request') as ((
    req: IncomingMessage,
    res: ServerResponse,
  ) => void)[];
  if (!onwards || others.length) throw new Error('direct routes need the one request listener express adds');
  server.removeAllListeners('request');
  server.on('request', (req: IncomingMessage & { route?: { path: string }; body?: unknown }, res) => {
    const query = req.url?.indexOf('?') ?? -1;
    const route = byKey.get(`${req.method} ${query < 0 ? req.url : req.url?.slice(0, query)}`);
    if (!route) return onwards(req, res);
    req.route = { path: route.path };
    edge.requestContext(req, res, () => {
      edge.readJson(req, res, (err) => {
        if (err) return answerError(res, err, edge.logger);
        void (async () => {
          try {
            answerJson(res, 200, await route.answer(req, req.body));
          } catch (failure) {
            answerError(res, failure, edge.logger);
          }
        })();
      });
    });
  });
}

/** Makes the validated config injectable everywhere, by its class. */
@Module({})
class ServiceConfigModule {}

/** Builds the Nest application for a service without listening (tests call this directly). */
export async function createServiceApp<C extends ServiceConfig>(
  definition: ServiceDefinition<C>,
  config: C,
  logger: Logger = createLogger(definition.name, config.LOG_LEVEL),
): Promise<INestApplication> {
  const configModule: DynamicModule = {
    module: ServiceConfigModule,
    global: true,
    providers: [{ provide: definition.configClass, useValue: config }],
    exports: [definition.configClass],
  };

  @Module({
    imports: [
      configModule,
      ObservabilityModule.forRoot({ service: definition.name, logger }),
      definition.module(config),
    ],
  })
  class ServiceRootModule {}

  const app = await NestFactory.create<NestExpressApplication>(ServiceRootModule, {
    logger: new PinoNestLogger(logger),
    bodyParser: false,
    forceCloseConnections: true,
  });
  app.disable('x-powered-by');
  const requestContext = requestContextMiddleware(app.get(Metrics));
  app.use(requestContext);
  app.use(refuseMalformedPath);
  if (definition.beforeBody) app.use(definition.beforeBody(app));
  const rawPaths = new Set(definition.rawBodyPaths ?? []);
  if (rawPaths.size) {
    // Registered first: a body read here is finished, so the JSON parser leaves it alone.
    app.useBodyParser('raw', {
      type: (req: IncomingMessage) => rawPaths.has((req.url ?? '').split('?')[0]),
      limit: definition.bodyLimit?.(config) ?? 1_048_576,
    });
  }
  // One JSON reader for express's routes and the direct ones.
  const readJson = express.json({
    type: ['application/json', ...(definition.jsonMediaTypes ?? [])],
    limit: definition.bodyLimit?.(config) ?? 1_048_576,
    strict: true,
  });
  app.use(readJson);
  // Body-parser failures happen before Nest's filters; answer them in the same error shape.
  app.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    answerError(res, err);
  });
  app.useGlobalPipes(createValidationPipe());
  const errorLogger = app.get<Logger>(LOGGER);
  app.useGlobalFilters(new HttpErrorFilter(errorLogger));
  const direct = definition.directRoutes?.(app) ?? [];
  if (direct.length) {
    answerDirectRoutesFirst(app.getHttpServer(), direct, {
      requestContext,
      readJson,
      logger: errorLogger,
    });
  }
  app.enableShutdownHooks(['SIGTERM', 'SIGINT']);

  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle(`${definition.name} API`)
      .setDescription(definition.description)
      .setVersion('1')
      .build(),
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs/openapi.json' });
  return app;
}

/**
 * The whole life of a service process: validated config (exit 78 naming bad variables), the app,
 * listening, and a bounded graceful shutdown on SIGTERM/SIGINT.
 */
export async function runService<C extends ServiceConfig>(definition: ServiceDefinition<C>): Promise<void> {
  const config = loadConfigOrExit(definition.configClass, definition.name);
  const logger = createLogger(definition.name, config.LOG_LEVEL);
  logger.info({ config: redactConfig(config) }, 'starting');
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      logger.info({ signal }, 'shutting down');
      setTimeout(() => {
        logger.error({ timeoutMs: config.SHUTDOWN_TIMEOUT_MS }, 'shutdown timed out; exiting');
        process.exit(1);
      }, config.SHUTDOWN_TIMEOUT_MS).unref();
    });
  }
  try {
    const app = await createServiceApp(definition, config, logger);
    await app.listen(config.PORT, '0.0.0.0');
    logger.info({ port: config.PORT }, 'listening');
  } catch (err) {
    logger.fatal({ err }, 'failed to start');
    process.exit(1);
  }
}
