import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Outbound webhooks of the metering platform, from the receiving side. Every delivery carries
 * `Metering-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`; the
 * timestamp is signed with the body, so a captured request cannot be replayed once it is older
 * than the tolerance.
 */
export const WEBHOOK_HEADERS = {
  signature: 'metering-signature',
  /** The same for every attempt of one delivery: dedupe on it (or on the event id). */
  deliveryId: 'metering-delivery-id',
  eventId: 'metering-event-id',
  eventType: 'metering-event-type',
  attempt: 'metering-delivery-attempt',
} as const;

/** How old (or how far ahead) a signature's timestamp may be, by default: five minutes. */
export const DEFAULT_WEBHOOK_TOLERANCE_SEC = 300;

/** The JSON body of every webhook delivery. */
export interface WebhookEvent<TData extends object = Record<string, unknown>> {
  /** The domain event's id: the same for every endpoint and every attempt. */
  id: string;
  /** Dotted event type, e.g. `invoice.finalized`. */
  type: string;
  occurredAt: string;
  accountId: string;
  tenantId?: string;
  data: TData;
}

export type WebhookSignatureErrorCode =
  'missing_signature' | 'malformed_signature' | 'timestamp_outside_tolerance' | 'signature_mismatch';

/** Why a delivery failed verification; answer it with a 4xx and do not act on its body. */
export class WebhookSignatureError extends Error {
  constructor(
    readonly code: WebhookSignatureErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'WebhookSignatureError';
  }
}

export interface VerifyWebhookOptions {
  /** The request body exactly as received: the raw bytes, before any JSON parsing. */
  payload: string | Uint8Array;
  /** The `Metering-Signature` header. */
  header: string | readonly string[] | null | undefined;
  /** The endpoint's signing secret; during a rotation, every secret still accepted. */
  secret: string | readonly string[];
  /** Largest accepted distance between the signed timestamp and now. Default 300 s. */
  toleranceSec?: number;
  /** Now, in unix seconds (tests). */
  nowSec?: number;
}

const HEX_SIGNATURE = /^[0-9a-f]{64}$/;
const TIMESTAMP = /^\d{1,12}$/;

/** `hex(HMAC-SHA256(secret, "<timestampSec>.<body>"))`: the `v1` signature. */
export function computeWebhookSignature(
  secret: string,
  timestampSec: number,
  body: string | Uint8Array,
): string {
  return createHmac('sha256', secret).update(`${timestampSec}.`).update(body).digest('hex');
}

/** The `Metering-Signature` header value for a body signed at `timestampSec`. */
export function signWebhookPayload(
  secret: string,
  body: string | Uint8Array,
  timestampSec = Math.floor(Date.now() / 1000),
): string {
  return `t=${timestampSec},v1=${computeWebhookSignature(secret, timestampSec, body)}`;
}

/** The timestamp and `v1` signatures of a header; other schemes are ignored (forward compatible). */
function parseSignatureHeader(header: string): { timestampSec: number; signatures: Buffer[] } {
  let timestamp: string | undefined;
  const signatures: Buffer[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't') timestamp = value;
    else if (key === 'v1' && HEX_SIGNATURE.test(value)) signatures.push(Buffer.from(value, 'hex'));
  }
  if (timestamp === undefined || !TIMESTAMP.test(timestamp))
    throw new WebhookSignatureError('malformed_signature', 'the signature header has no valid t=<timestamp>');
  if (signatures.length === 0)
    throw new WebhookSignatureError('malformed_signature', 'the signature header has no v1 signature');
  return { timestampSec: Number(timestamp), signatures };
}

/**
 * Checks a delivery's signature over its raw body with a constant-time comparison, then its age.
 * Returns the signed timestamp; throws {@link WebhookSignatureError} for a missing or malformed
 * header, a body or timestamp that does not match the signature, or a timestamp outside the
 * tolerance (a replay of an old request, or a clock far off).
 */
export function verifyWebhookSignature(options: VerifyWebhookOptions): { timestampSec: number } {
  const header = Array.isArray(options.header) ? options.header.join(',') : options.header;
  if (typeof header !== 'string' || header.trim() === '')
    throw new WebhookSignatureError('missing_signature', 'no Metering-Signature header');
  const { timestampSec, signatures } = parseSignatureHeader(header);
  const secrets: readonly string[] = typeof options.secret === 'string' ? [options.secret] : options.secret;
  const matches = secrets.some((secret) => {
    const expected = Buffer.from(computeWebhookSignature(secret, timestampSec, options.payload), 'hex');
    return signatures.some((candidate) => timingSafeEqual(candidate, expected));
  });
  if (!matches)
    throw new WebhookSignatureError(
      'signature_mismatch',
      'the signature does not match the body and timestamp',
    );
  const tolerance = options.toleranceSec ?? DEFAULT_WEBHOOK_TOLERANCE_SEC;
  const now = options.nowSec ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - timestampSec) > tolerance)
    throw new WebhookSignatureError(
      'timestamp_outside_tolerance',
      `the signature is ${now - timestampSec} s old; at most ${tolerance} s is accepted`,
    );
  return { timestampSec };
}

/** Why a delivery fails {@link verifyWebhookSignature}, or undefined when it passes: for receivers that branch rather than catch. */
export function webhookSignatureProblem(
  options: VerifyWebhookOptions,
): WebhookSignatureErrorCode | undefined {
  try {
    verifyWebhookSignature(options);
    return undefined;
  } catch (err) {
    if (err instanceof WebhookSignatureError) return err.code;
    throw err;
  }
}

/** Verifies a delivery (see {@link verifyWebhookSignature}) and parses its body. */
export function constructWebhookEvent<TData extends object = Record<string, unknown>>(
  options: VerifyWebhookOptions,
): WebhookEvent<TData> {
  verifyWebhookSignature(options);
  const text =
    typeof options.payload === 'string' ? options.payload : Buffer.from(options.payload).toString('utf8');
  return JSON.parse(text) as WebhookEvent<TData>;
}
