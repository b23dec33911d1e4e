import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import {
  WebhookSignatureError,
  computeWebhookSignature,
  constructWebhookEvent,
  signWebhookPayload,
  verifyWebhookSignature,
  webhookSignatureProblem,
} from './webhook-signature';

const SECRET = 'whsec_test-secret-0123456789';
const NOW = 1_760_000_000;
const BODY = JSON.stringify({
  id: '7a4c0f0e-3f65-4e4b-9d1b-0d3c7c5b2a11',
  type: 'invoice.finalized',
  occurredAt: '2025-10-09T08:53:20.000Z',
  accountId: 'acc_1',
  data: { invoiceId: 'inv_1', total: '1250' },
});

/** The error code verification fails with, or `ok`. */
const outcome = (options: Parameters<typeof verifyWebhookSignature>[0]) =>
  webhookSignatureProblem(options) ?? 'ok';

describe(verifyWebhookSignature.name, () => {
  const header = signWebhookPayload(SECRET, BODY, NOW);

  it('signs as documented: hex HMAC-SHA256 of "<t>.<body>" under the secret', () => {
    const expected = createHmac('sha256', SECRET).update(`${NOW}.${BODY}`).digest('hex');
    expect(header).toBe(`t=${NOW},v1=${expected}`);
    expect(computeWebhookSignature(SECRET, NOW, Buffer.from(BODY))).toBe(expected);
  });

  it('throws the problem it names', () => {
    expect(() =>
      verifyWebhookSignature({ payload: `${BODY}x`, header, secret: SECRET, nowSec: NOW }),
    ).toThrow(expect.objectContaining({ name: 'WebhookSignatureError', code: 'signature_mismatch' }));
  });

  it('accepts the body it was signed over, as a string or as bytes', () => {
    expect(verifyWebhookSignature({ payload: BODY, header, secret: SECRET, nowSec: NOW })).toEqual({
      timestampSec: NOW,
    });
    expect(outcome({ payload: Buffer.from(BODY), header, secret: SECRET, nowSec: NOW + 299 })).toBe('ok');
  });

  it('refuses a tampered body', () => {
    const tampered = BODY.replace('"1250"', '"1"');
    expect(outcome({ payload: tampered, header, secret: SECRET, nowSec: NOW })).toBe('signature_mismatch');
  });

  it('refuses any single-byte change of the body', () => {
    fc.assert(
      fc.property(fc.nat(BODY.length - 1), fc.integer({ min: 1, max: 255 }), (index, delta) => {
        const bytes = Buffer.from(BODY);
        bytes[index] = (bytes[index] + delta) % 256;
        return outcome({ payload: bytes, header, secret: SECRET, nowSec: NOW }) === 'signature_mismatch';
      }),
    );
  });

  it('refuses a stale timestamp, and one too far ahead', () => {
    expect(outcome({ payload: BODY, header, secret: SECRET, nowSec: NOW + 301 })).toBe(
      'timestamp_outside_tolerance',
    );
    expect(outcome({ payload: BODY, header, secret: SECRET, nowSec: NOW - 301 })).toBe(
      'timestamp_outside_tolerance',
    );
    expect(outcome({ payload: BODY, header, secret: SECRET, nowSec: NOW + 3_600, toleranceSec: 3_600 })).toBe(
      'ok',
    );
  });

  it('refuses a replay with a fresh timestamp but the old signature', () => {
    const replayed = header.replace(`t=${NOW}`, `t=${NOW + 1_000}`);
    expect(outcome({ payload: BODY, header: replayed, secret: SECRET, nowSec: NOW + 1_000 })).toBe(
      'signature_mismatch',
    );
  });

  it('refuses a signature made with another secret', () => {
    const forged = signWebhookPayload('whsec_other', BODY, NOW);
    expect(outcome({ payload: BODY, header: forged, secret: SECRET, nowSec: NOW })).toBe(
      'signature_mismatch',
    );
  });

  it('accepts any of several secrets (rotation) and any of several v1 signatures', () => {
    expect(outcome({ payload: BODY, header, secret: ['whsec_new', SECRET], nowSec: NOW })).toBe('ok');
    const two = `${header},v1=${'0'.repeat(64)}`;
    expect(outcome({ payload: BODY, header: two, secret: SECRET, nowSec: NOW })).toBe('ok');
    const otherFirst = `t=${NOW},v1=${'f'.repeat(64)},${header.split(',')[1]}`;
    expect(outcome({ payload: BODY, header: otherFirst, secret: SECRET, nowSec: NOW })).toBe('ok');
  });

  it('names a missing or malformed header', () => {
    expect(outcome({ payload: BODY, header: undefined, secret: SECRET })).toBe('missing_signature');
    expect(outcome({ payload: BODY, header: '  ', secret: SECRET })).toBe('missing_signature');
    expect(outcome({ payload: BODY, header: 'v1=abc', secret: SECRET })).toBe('malformed_signature');
    expect(outcome({ payload: BODY, header: `t=${NOW}`, secret: SECRET })).toBe('malformed_signature');
    expect(outcome({ payload: BODY, header: `t=soon,v1=${'a'.repeat(64)}`, secret: SECRET })).toBe(
      'malformed_signature',
    );
    // A v1 of the wrong length is not a signature (and never reaches the constant-time compare).
    expect(outcome({ payload: BODY, header: `t=${NOW},v1=abcd`, secret: SECRET, nowSec: NOW })).toBe(
      'malformed_signature',
    );
  });

  it('ignores signature schemes it does not know', () => {
    const withV0 = `t=${NOW},v0=whatever,${header.split(',')[1]}`;
    expect(outcome({ payload: BODY, header: withV0, secret: SECRET, nowSec: NOW })).toBe('ok');
  });
});

describe(constructWebhookEvent.name, () => {
  it('returns the parsed event of a verified delivery', () => {
    const header = signWebhookPayload(SECRET, BODY, NOW);
    const event = constructWebhookEvent({ payload: Buffer.from(BODY), header, secret: SECRET, nowSec: NOW });
    expect(event).toMatchObject({
      type: 'invoice.finalized',
      accountId: 'acc_1',
      data: { invoiceId: 'inv_1' },
    });
  });

  it('parses nothing of a delivery that fails verification', () => {
    const header = signWebhookPayload(SECRET, BODY, NOW);
    expect(() => constructWebhookEvent({ payload: `${BODY} `, header, secret: SECRET, nowSec: NOW })).toThrow(
      WebhookSignatureError,
    );
  });
});
