<?php
// Runs merchant.php against the shared vectors: php vectors.php <path to vectors.json>

declare(strict_types=1);

require __DIR__ . '/merchant.php';

$vectors = json_decode(file_get_contents($argv[1]), true, 512, JSON_THROW_ON_ERROR);
$passed = $failed = 0;
$check = function (string $kind, string $name, bool $ok, string $detail = '') use (&$passed, &$failed): void {
    $ok ? $passed++ : $failed++;
    echo ($ok ? 'ok   ' : 'FAIL ') . "$kind $name" . ($ok ? '' : ": $detail") . "\n";
};
$label = fn (array $v): string => $v['name'] . ' (' . ($v['valid'] ? 'valid' : $v['error']) . ')';

foreach ($vectors['intents']['mint'] as $v) {
    $p = $v['payload'];
    $intent = mint_intent($v['key'], $p['order_no'], $p['amount'], $p['currency'], $p['exp']);
    $check('intent', $v['name'], $intent === $v['intent'], $intent);
}
foreach ($vectors['notifications'] as $v) {
    try {
        $event = verify_notification($v['secret'], $v['headers'], $v['body'], $v['now']);
        $ok = $v['valid'] && [$event['id'], $event['type'], $event['data']['order_no']] === [$v['event']['id'], $v['event']['type'], $v['event']['order_no']];
        $check('notification', $label($v), $ok, 'accepted');
    } catch (UnexpectedValueException $e) {
        $check('notification', $label($v), !$v['valid'], $e->getMessage());
    }
}
foreach ($vectors['result_tokens'] as $v) {
    try {
        $result = verify_result_token($v['key'], $v['token'], $v['now']);
        ksort($result);
        $want = $v['result'] ?? [];
        ksort($want);
        $check('result_token', $label($v), $v['valid'] && $result === $want, json_encode($result));
    } catch (UnexpectedValueException $e) {
        $check('result_token', $label($v), $e->getMessage() === ($v['error'] ?? ''), $e->getMessage());
    }
}
echo "php: $passed passed, $failed failed\n";
exit($failed === 0 && $passed > 0 ? 0 : 1);
