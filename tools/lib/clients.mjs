// Clients of the platform's public interfaces, for the demo and the operator CLI: the five REST
// APIs (a management key, or a tenant's ingest key) and the direct intake topic usage.ingest.v1
// (kafkajs from node_modules, like tools/bench). A service that is briefly down or answers
// 502/503 is retried unless the caller says the call is not safe to repeat (`retry: false`).
import { createRequire } from 'node:module';
import { readStackEnv } from '../stack/stack-env.mjs';

const stackEnv = (() => {
  try {
    return readStackEnv();
  } catch {
    return {}; // no local stack here: everything comes from the environment
  }
})();
export const ADMIN_KEY = process.env.METERING_KEY ?? process.env.ADMIN_KEY ?? stackEnv.ADMIN_KEY;

const url = (name, port) => process.env[`${name}_URL`] ?? `http://127.0.0.1:${port}`;
export const SERVICES = {
  registry: url('REGISTRY', 3001),
  ingestion: url('INGESTION', 3002),
  aggregation: url('AGGREGATION', 3003),
  billing: url('BILLING', 3004),
  audit: url('AUDIT', 3005),
  webhooks: url('WEBHOOKS', 3006),
  dashboard: url('DASHBOARD', 3007),
};

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** An answer the demo did not expect: method, path, status and the platform's error body. */
export class ApiError extends Error {
  constructor(method, target, status, body) {
    const e = body?.error;
    super(`${method} ${target} → ${status} ${e ? `${e.code}: ${e.message}` : JSON.stringify(body)}`);
    this.status = status;
    this.code = e?.code;
    this.body = body;
  }
}

const RETRY_FOR_MS = 90_000;

/**
 * One HTTP call. `expect` lists the statuses the caller handles itself (their answer is returned
 * as `{ status, body, headers }`); any other non-2xx throws an ApiError. Connection failures and
 * 502/503 are retried with backoff for up to 90 s (a service restarting under someone else's hands).
 */
export async function call(
  service,
  method,
  path,
  { body, key = ADMIN_KEY, expect = [], type, retry = true } = {},
) {
  const target = `${SERVICES[service]}${path}`;
  const started = Date.now();
  const retryForMs = retry ? RETRY_FOR_MS : 0;
  for (let attempt = 0; ; attempt++) {
    let res;
    try {
      res = await fetch(target, {
        method,
        headers: {
          authorization: `Bearer ${key}`,
          ...(body !== undefined ? { 'content-type': type ?? 'application/json' } : {}),
        },
        body: body !== undefined ? JSON.stringify(body) : undefined,
      });
    } catch (err) {
      if (Date.now() - started >= retryForMs)
        throw new Error(`${method} ${target}: ${err.cause?.code ?? err.message}`);
      await sleep(Math.min(5_000, 250 * 2 ** attempt));
      continue;
    }
    const text = await res.text();
    let json;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = text;
    }
    const retryAfter = Number(res.headers.get('retry-after'));
    const transient = res.status === 502 || res.status === 503 || res.status === 429;
    if (transient && !expect.includes(res.status) && Date.now() - started < retryForMs) {
      await sleep(retryAfter > 0 ? retryAfter * 1000 : Math.min(5_000, 250 * 2 ** attempt));
      continue;
    }
    if (res.ok || expect.includes(res.status))
      return { status: res.status, body: json, headers: res.headers };
    throw new ApiError(method, path, res.status, json);
  }
}

/** The body of a call that must succeed. */
export const api = async (service, method, path, options) =>
  (await call(service, method, path, options)).body;

/** Every item of a cursor-paginated registry list. */
export async function listAll(service, path, field = 'items') {
  const items = [];
  let cursor = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const page = await api(service, 'GET', `${path}${sep}limit=500${cursor ? `&cursor=${cursor}` : ''}`);
    items.push(...page[field]);
    cursor = page.nextCursor;
  } while (cursor);
  return items;
}

/**
 * A tenant's producer posting one batch of CloudEvents with its ingest key. Answers the 202 body,
 * or `{ refused: code, status }` when the whole request is refused (403 tenant_suspended, …).
 */
export async function postEvents(apiKey, events) {
  const res = await call('ingestion', 'POST', '/v1/events', {
    key: apiKey,
    body: events,
    type: 'application/cloudevents-batch+json',
    expect: [401, 403],
  });
  if (res.status === 202) return res.body;
  return { refused: res.body?.error?.code ?? String(res.status), status: res.status };
}

/** Publishes events straight to usage.ingest.v1 (the intake path of trusted internal producers). */
export async function publishDirect(events) {
  const require = createRequire(import.meta.url);
  const { Kafka, logLevel } = require('kafkajs');
  const brokers = (process.env.KAFKA_BROKERS ?? stackEnv.KAFKA_BROKERS).split(',');
  const kafka = new Kafka({ clientId: 'metering-demo', brokers, logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  await producer.connect();
  try {
    await producer.send({
      topic: 'usage.ingest.v1',
      acks: -1,
      messages: events.map((e) => ({ key: e.tenantid, value: JSON.stringify(e) })),
    });
  } finally {
    await producer.disconnect();
  }
}
