import { randomUUID } from 'node:crypto';

/** A CloudEvent for `api.call` (meter api_calls), with overridable fields. */
export function apiCallEvent(tenantId: string, patch: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    specversion: '1.0',
    id: randomUUID(),
    source: 'e2e://producer',
    type: 'api.call',
    time: new Date().toISOString(),
    tenantid: tenantId,
    data: { route: '/v1/things' },
    ...patch,
  };
}

export interface IngestBody {
  accepted: number;
  duplicates: number;
  rejected: { index: number; id: string | null; reasons: string[] }[];
}

/** Posts a batch to ingestion's `POST /v1/events`. */
export async function postEvents(
  ingestionUrl: string,
  events: unknown[],
): Promise<{ status: number; body: IngestBody }> {
  const res = await fetch(`${ingestionUrl}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/cloudevents-batch+json' },
    body: JSON.stringify(events),
  });
  return { status: res.status, body: (await res.json()) as IngestBody };
}
