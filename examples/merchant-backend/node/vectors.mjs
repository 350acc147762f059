// Runs merchant.mjs against the shared vectors (tests/data/vectors.json):
//   node vectors.mjs <path to vectors.json>
import { readFileSync } from "node:fs";
import { mintIntent, verifyNotification, verifyResultToken } from "./merchant.mjs";

const vectors = JSON.parse(readFileSync(process.argv[2], "utf8"));
let passed = 0;
let failed = 0;
function check(kind, name, ok, detail) {
  ok ? passed++ : failed++;
  console.log(`${ok ? "ok  " : "FAIL"} ${kind} ${name}${ok ? "" : `: ${detail}`}`);
}
const outcome = (run) => {
  try {
    return { value: run() };
  } catch (error) {
    return { error };
  }
};

for (const v of vectors.intents.mint) {
  const p = v.payload;
  const intent = mintIntent(v.key, { orderNo: p.order_no, amount: p.amount, currency: p.currency, expiresAt: p.exp });
  check("intent", v.name, intent === v.intent, intent);
}

const realNow = Date.now;
for (const v of vectors.notifications) {
  // The library reads the clock; the vectors are signed at fixed times.
  Date.now = () => v.now * 1000;
  const got = outcome(() => verifyNotification(v.secret, v.headers, v.body));
  Date.now = realNow;
  const ok = v.valid
    ? got.value?.id === v.event.id && got.value?.type === v.event.type && got.value?.data?.order_no === v.event.order_no
    : got.error?.name === "WebhookVerificationError";
  check("notification", `${v.name} (${v.valid ? "valid" : v.error})`, ok, got.error?.message ?? "accepted");
}

for (const v of vectors.result_tokens) {
  const got = outcome(() => verifyResultToken(v.key, v.token, v.now));
  const same = (a, b) => Object.keys(b).length === Object.keys(a ?? {}).length && Object.keys(b).every((k) => a[k] === b[k]);
  const ok = v.valid ? same(got.value, v.result) : got.error?.code === v.error;
  check("result_token", `${v.name} (${v.valid ? "valid" : v.error})`, ok, got.error?.message ?? JSON.stringify(got.value));
}

console.log(`node: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
