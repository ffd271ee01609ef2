import { createHmac } from 'node:crypto';

/**
 * Standard Webhooks' secret form: `whsec_` and the base64 of the key (at least 12 bytes), padded as
 * base64 is: receivers decode it with strict decoders (the `standardwebhooks` package's does), so a
 * secret they could not decode is refused here rather than signing with a key nobody can check.
 */
export const WEBHOOK_SECRET_PATTERN = /^whsec_(?:[A-Za-z0-9+/]{4}){4,}(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export const WEBHOOK_SECRET_HINT = 'whsec_ followed by base64 (at least 12 bytes), e.g. whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

/** The strings to mask wherever the secret could appear: the whole secret and its bare base64 key. */
export function secretForms(secret: string | undefined): string[] {
  if (!secret) return [];
  return [secret, secret.replace(/^whsec_/, '')];
}

/**
 * `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`, the key being the secret's decoded bytes.
 * Node's crypto, not the package's pure-JS hash: this runs for every attempt. A test proves the
 * package's `Webhook.verify` accepts what this makes.
 */
export function sign(secret: string, msgId: string, timestampSeconds: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const mac = createHmac('sha256', key).update(`${msgId}.${String(timestampSeconds)}.${body}`).digest('base64');
  return `v1,${mac}`;
}

/** The Standard Webhooks headers of one attempt (signed when a secret is set). */
export function signatureHeaders(secret: string | undefined, msgId: string, body: string, now = Date.now()): Record<string, string> {
  const timestamp = Math.floor(now / 1000);
  const headers: Record<string, string> = { 'webhook-id': msgId, 'webhook-timestamp': String(timestamp) };
  if (secret) headers['webhook-signature'] = sign(secret, msgId, timestamp, body);
  return headers;
}
