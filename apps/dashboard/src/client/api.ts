/// <reference lib="dom" />

export type Service = 'tenant-registry' | 'aggregation' | 'billing' | 'audit';

/** An answer other than 2xx, with the service's `{ error: { code, message } }` when it sent one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

const query = (params: Record<string, string | number | undefined>): string => {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
};

/**
 * The services' REST APIs through the dashboard's same-origin proxy (`/api/<service>/…`), with
 * the user's management key as the services expect it: `Authorization: Bearer mk_…`.
 */
export class Api {
  constructor(private readonly key: string) {}

  async get<T>(service: Service, path: string, params: Record<string, string | number | undefined> = {}) {
    const res = await this.fetch(service, path + query(params));
    return (await res.json()) as T;
  }

  /** Fetches a file (e.g. CSV) and hands it to the browser as a download named `filename`. */
  async download(service: Service, path: string, filename: string): Promise<Blob> {
    const blob = await (await this.fetch(service, path)).blob();
    const url = URL.createObjectURL(blob);
    const link = document.createElement('a');
    link.href = url;
    link.download = filename;
    document.body.append(link);
    link.click();
    link.remove();
    // Revoked once the download has started with the object URL.
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    return blob;
  }

  private async fetch(service: Service, pathAndQuery: string): Promise<Response> {
    const res = await fetch(`/api/${service}${pathAndQuery}`, {
      headers: { authorization: `Bearer ${this.key}`, accept: 'application/json, text/csv' },
    });
    if (res.ok) return res;
    let code = `http_${res.status}`;
    let message = `${service} answered ${res.status}`;
    try {
      const body = (await res.json()) as { error?: { code?: string; message?: string } };
      code = body.error?.code ?? code;
      message = body.error?.message ?? message;
    } catch {
      // Not the error shape (e.g. a proxy in between): the status says enough.
    }
    throw new ApiError(res.status, code, message);
  }
}
