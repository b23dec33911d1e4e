import { AsyncLocalStorage } from 'node:async_hooks';

/** Ids every log line of a request or message carries. */
export interface LogContext {
  correlationId?: string;
  accountId?: string;
  tenantId?: string;
}

const storage = new AsyncLocalStorage<LogContext>();

/** Runs `fn` with `context` added to the current one. */
export function runWithContext<T>(context: LogContext, fn: () => T): T {
  return storage.run({ ...storage.getStore(), ...context }, fn);
}

export function currentContext(): LogContext {
  return storage.getStore() ?? {};
}

/** Adds ids to the running context once they are known (e.g. after authentication). */
export function enrichContext(context: LogContext): void {
  const store = storage.getStore();
  if (store) Object.assign(store, context);
}
