// Live order state in a real browser: the widget follows the edge's Server-Sent
// Events (`GET /v1/orders/{order_no}/events`, one Durable Object per order under wrangler dev)
// and shows a callback's change within a second, without polling; when the stream is refused
// it polls instead and the shopper sees nothing but the state.
import { describe, test, before, after } from 'node:test';
import * as L from './lib.mjs';

const { assert } = L;

let browser;
before(async () => { browser = await L.launch(); });
after(async () => { await browser?.close(); });

const isStream = (order) => (url) => url.startsWith(`${L.EDGE}/v1/orders/${order}/events?token=`);
const statusPolls = (s, order) => s.requests.filter((r) => r.url === `${L.EDGE}/v1/orders/${order}`).length;

describe('push', () => {
  test('payment → "Paid" on screen within 1 s over SSE, no status polling (en)', async (t) => {
    const s = await L.shopper(browser);
    try {
      const { order } = await L.openShop(s.page, { locale: 'en' });
      const streamP = s.page.waitForResponse((r) => isStream(order)(r.url()));
      const popupP = s.ctx.waitForEvent('page');
      await L.clickPay(s.page);
      const popup = await popupP;
      assert.equal((await streamP).status(), 200, 'the event stream opened');
      await L.waitStatus(s.page, L.phrase('en', 'Waiting'));
      const paid = L.phrase('en', 'Paid');
      // From the payment at TrustPay (its callback follows at once) to the text on screen.
      const started = Date.now();
      await L.sim(`/_sim/orders/${order}/pay`, {});
      await s.page.waitForFunction((want) => document.querySelector('#pay')?.shadowRoot
        ?.querySelector('[role=status]')?.textContent === want, paid, { timeout: 10000, polling: 'raf' });
      const ms = Date.now() - started;
      t.diagnostic(`payment → "Paid" on screen: ${ms} ms`);
      assert.ok(ms <= 1000, `callback → screen took ${ms} ms (goal ≤ 1 s)`);
      assert.equal(statusPolls(s, order), 0, 'no status polling while pushed');
      if (!popup.isClosed()) await popup.close();
      await L.finalState(t, s, 'en-paid-push');
    } finally {
      await s.ctx.close();
    }
  });

  test('event stream refused → polling takes over, only the state is shown (zh-CN)', async (t) => {
    const s = await L.shopper(browser);
    try {
      const { order } = await L.openShop(s.page, { locale: 'zh-CN' });
      let refused = 0;
      await s.page.route((url) => isStream(order)(url.href), (route) => { refused += 1; return route.abort(); });
      const popupP = s.ctx.waitForEvent('page');
      await L.clickPay(s.page);
      const popup = await popupP;
      await L.waitStatus(s.page, L.phrase('zh-CN', 'Waiting'));
      await L.eventually(() => refused > 0 && statusPolls(s, order) > 0, 'stream refused, then a status poll');
      await L.sim(`/_sim/orders/${order}/pay`, {});
      await L.waitStatus(s.page, L.phrase('zh-CN', 'Paid'));
      assert.equal(refused, 1, 'one stream attempt, then polling for good');
      if (!popup.isClosed()) await popup.close();
      await L.finalState(t, s, 'zh-CN-paid-push-fallback');
    } finally {
      await s.ctx.close();
    }
  });
});

test('assertion count', (t) => { t.diagnostic(`assertions: ${L.assertionCount()}`); });
