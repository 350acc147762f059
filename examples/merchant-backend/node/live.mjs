// merchant.mjs against a running edge and trustpay-sim: mint an intent offline, create the
// order as the widget would, pay it in the simulator, receive and verify the real notification,
// then verify the result token the page would post back. Run by the merchant-kit stage with
// EDGE_URL, SIM_URL, ORIGIN, WEBHOOK_PORT, INTENT_SECRET, MERCHANT_WEBHOOK_SECRET and
// CLIENT_RESULT_SECRET set.
import { createServer } from "node:http";
import { mintIntent, verifyNotification, verifyResultToken } from "./merchant.mjs";

const env = (name) => {
  if (!process.env[name]) throw new Error(`${name} is not set`);
  return process.env[name];
};
const orderNo = `kit-node-${Date.now()}`;
const send = async (url, init = {}) => {
  const answer = await fetch(url, init);
  return { status: answer.status, body: await answer.json().catch(() => null) };
};

// The merchant's webhook endpoint: every notification must verify; ours resolves the wait.
const paid = new Promise((resolve, reject) => {
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      try {
        const event = verifyNotification(env("MERCHANT_WEBHOOK_SECRET"), req.headers, Buffer.concat(chunks).toString("utf8"));
        res.writeHead(204).end();
        console.log(`node live: notification ${event.id} ${event.type} (${event.data.order_no}) verified`);
        if (event.data.order_no === orderNo && event.type === "order.paid") resolve(event);
      } catch (error) {
        res.writeHead(400).end();
        reject(new Error(`a notification did not verify: ${error.message}`));
      }
    });
  });
  server.listen(Number(env("WEBHOOK_PORT")), "127.0.0.1");
  setTimeout(() => reject(new Error("no order.paid notification within 30 s")), 30_000).unref();
});

const intent = mintIntent(env("INTENT_SECRET"), {
  orderNo, amount: "5.00", currency: "USD", expiresAt: Math.floor(Date.now() / 1000) + 600,
});
const created = await send(`${env("EDGE_URL")}/v1/orders`, {
  method: "POST",
  headers: { "Content-Type": "application/json", Origin: env("ORIGIN") },
  body: JSON.stringify({ intent }),
});
if (created.status !== 201) throw new Error(`create: ${created.status} ${JSON.stringify(created.body)}`);
console.log(`node live: order ${orderNo} created from an offline intent`);
const pay = await send(`${env("SIM_URL")}/_sim/orders/${orderNo}/pay`, { method: "POST" });
if (pay.status !== 200) throw new Error(`sim pay: ${pay.status}`);

await paid;
let view;
for (let i = 0; i < 50 && !view?.result_token; i++) {
  if (i) await new Promise((r) => setTimeout(r, 200));
  view = (await send(`${env("EDGE_URL")}/v1/orders/${orderNo}`, {
    headers: { "X-Client-Secret": created.body.client_secret, Origin: env("ORIGIN") },
  })).body;
}
const result = verifyResultToken(env("CLIENT_RESULT_SECRET"), view?.result_token ?? "");
if (result.order_no !== orderNo || result.state !== "paid" || result.amount !== "5.00") {
  throw new Error(`result token says ${JSON.stringify(result)}`);
}
console.log(`node live: result token verified: ${result.order_no} ${result.state} ${result.amount} ${result.currency}`);
process.exit(0);
