<?php
// The three things a merchant backend does with the TrustPay checkout edge (PHP 8.1+): mint a
// checkout intent, verify a notification, verify the result token the page posts back.
// Standard Webhooks verification is written out: no official PHP library is packaged for the
// registries this project uses (Packagist's standard-webhooks/standard-webhooks does the same).

declare(strict_types=1);

function b64url(string $bytes): string
{
    return rtrim(strtr(base64_encode($bytes), '+/', '-_'), '=');
}

/** A checkout intent for the widget's data-intent, minted offline with INTENT_SECRET. */
function mint_intent(string $intentSecret, string $orderNo, string $amount, string $currency, int $expiresAt): string
{
    $payload = ['order_no' => $orderNo, 'amount' => $amount, 'currency' => $currency, 'exp' => $expiresAt];
    $signed = 'v1.' . b64url(json_encode($payload, JSON_UNESCAPED_SLASHES | JSON_THROW_ON_ERROR));
    return $signed . '.' . b64url(hash_hmac('sha256', $signed, $intentSecret, true));
}

/**
 * A notification (Standard Webhooks): the raw body and the webhook-* headers (lower-case
 * names). Returns the event {id, type, created_at, data}, or throws. Deduplicate on id.
 */
function verify_notification(string $whsec, array $headers, string $rawBody, ?int $now = null): array
{
    [$id, $ts, $signatures] = [$headers['webhook-id'] ?? '', $headers['webhook-timestamp'] ?? '', $headers['webhook-signature'] ?? ''];
    if ($id === '' || !ctype_digit($ts) || $signatures === '') {
        throw new UnexpectedValueException('missing or malformed webhook headers');
    }
    if (abs(($now ?? time()) - (int) $ts) > 300) {
        throw new UnexpectedValueException('timestamp outside the 5-minute window');
    }
    $key = base64_decode(preg_replace('/^whsec_/', '', $whsec), true);
    $expected = base64_encode(hash_hmac('sha256', "$id.$ts.$rawBody", (string) $key, true));
    foreach (explode(' ', $signatures) as $signature) {
        [$version, $value] = array_pad(explode(',', $signature, 2), 2, '');
        if ($version === 'v1' && hash_equals($expected, $value)) {
            return json_decode($rawBody, true, 512, JSON_THROW_ON_ERROR);
        }
    }
    throw new UnexpectedValueException('no matching signature');
}

/** The result_token the page posts back: [order_no, state, amount, currency, exp], or throws with the code. */
function verify_result_token(string $resultSecret, string $token, ?int $now = null): array
{
    $parts = explode('.', $token);
    if (strlen($token) > 1024 || count($parts) !== 3) {
        throw new UnexpectedValueException('result_malformed');
    }
    if ($parts[0] !== 'v1') {
        throw new UnexpectedValueException('result_version');
    }
    if (!hash_equals(b64url(hash_hmac('sha256', "v1.$parts[1]", $resultSecret, true)), $parts[2])) {
        throw new UnexpectedValueException('result_bad_signature');
    }
    $result = json_decode(base64_decode(strtr($parts[1], '-_', '+/')), true, 512, JSON_THROW_ON_ERROR);
    if (($now ?? time()) >= $result['exp']) {
        throw new UnexpectedValueException('result_expired');
    }
    return $result;
}
