// The three things a merchant backend does with the TrustPay checkout edge (Node 18+):
// mint a checkout intent, verify a notification, verify the result token the page posts back.
import { createHmac, timingSafeEqual } from "node:crypto";
import { Webhook } from "standardwebhooks";

const mac = (key, text) => createHmac("sha256", key).update(text).digest();

/**
 * A checkout intent for the widget's `data-intent`, minted offline with INTENT_SECRET:
 * `v1.<base64url(payload JSON)>.<base64url(HMAC-SHA256(key, "v1." + payload_b64))>`.
 * `amount` is decimal text with two decimals ("5.00"), `expiresAt` Unix seconds.
 */
export function mintIntent(intentSecret, { orderNo, amount, currency, expiresAt }) {
  const payload = { order_no: orderNo, amount, currency, exp: expiresAt };
  const signed = `v1.${Buffer.from(JSON.stringify(payload)).toString("base64url")}`;
  return `${signed}.${mac(intentSecret, signed).toString("base64url")}`;
}

/**
 * A notification (Standard Webhooks): the raw body as received and the request's headers.
 * Returns the event `{id, type, created_at, data}`; throws WebhookVerificationError when the
 * signature, the id or the timestamp (±5 minutes) does not hold. Deduplicate on `id`.
 */
export function verifyNotification(webhookSecret, headers, rawBody) {
  return new Webhook(webhookSecret).verify(rawBody, headers);
}

/** Why a result token was refused (`code`: result_malformed, _version, _bad_signature, _expired). */
export class ResultTokenError extends Error {
  constructor(code) {
    super(`result token refused: ${code}`);
    this.code = code;
  }
}

/**
 * The `result_token` the page posts back, checked with CLIENT_RESULT_SECRET (same format as an
 * intent). Returns `{order_no, state, amount, currency, exp}`: compare them with your order.
 */
export function verifyResultToken(resultSecret, token, now = Math.floor(Date.now() / 1000)) {
  const parts = token.split(".");
  if (token.length > 1024 || parts.length !== 3) throw new ResultTokenError("result_malformed");
  if (parts[0] !== "v1") throw new ResultTokenError("result_version");
  const expected = mac(resultSecret, `v1.${parts[1]}`);
  const given = Buffer.from(parts[2], "base64url");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new ResultTokenError("result_bad_signature");
  }
  const result = JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
  if (now >= result.exp) throw new ResultTokenError("result_expired");
  return result;
}
