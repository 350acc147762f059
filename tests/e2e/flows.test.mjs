// Full checkout flows in a real browser against the whole stack (see lib.mjs for the set-up).
// Each test is its own browser context and its own order; outcomes are set per order through
// the simulator's auto-outcome API (`/_sim/orders/{order_no}/auto`), so these run concurrently.
// Two tests click through the simulator's hosted page for real (popup and redirect mode).
import { describe, test, before, after } from 'node:test';
import * as L from './lib.mjs';

const { assert } = L;

let browser;
before(async () => { browser = await L.launch(); });
after(async () => { await browser?.close(); });

const LOCALES = ['en', 'zh-CN', 'ar'];
const OUTCOMES = [
  { outcome: 'pay', phrase: 'Paid', state: 'paid' },
  { outcome: 'decline', phrase: 'Failed', state: 'declined' },
  { outcome: 'timeout', phrase: 'Expired', state: 'expired' },
];

const localAmount = (page, locale) => page.evaluate((loc) => new Intl.NumberFormat(loc, { style: 'currency', currency: 'USD' }).format(24), locale);
const rootAttr = (page, name) => page.evaluate((n) => document.querySelector('#pay').shadowRoot.querySelector('[part=root]').getAttribute(n), name);

/** Records the create answer (order_no, client_secret) as the page receives it. */
function captureCreate(page) {
  return page.waitForResponse((r) => r.url() === `${L.EDGE}/v1/orders` && r.request().method() === 'POST' && r.status() < 300)
    .then((r) => r.json());
}

describe('full flows', { concurrency: 4 }, () => {
  for (const locale of LOCALES) {
    for (const { outcome, phrase, state } of OUTCOMES) {
      test(`${outcome} → ${state} in ${locale} (one-tag embed, popup)`, async (t) => {
        const s = await L.shopper(browser);
        try {
          const { order, label } = await L.openShop(s.page, { locale });
          assert.equal(label, L.phrase(locale, 'PayAmount', await localAmount(s.page, locale)), 'pay button, localized amount');
          assert.equal(await rootAttr(s.page, 'dir'), locale === 'ar' ? 'rtl' : 'ltr');
          assert.equal(await rootAttr(s.page, 'lang'), locale);
          // Decided 1 s after creation: the popup has loaded the pay page by then.
          await L.sim(`/_sim/orders/${order}/auto`, { outcome, after_ms: 1000 });
          const popupP = s.ctx.waitForEvent('page');
          await L.clickPay(s.page);
          const popup = await popupP;
          await L.waitStatus(s.page, L.phrase(locale, phrase));
          // The popup showed TrustPay's pay page (the widget closes it at the final state).
          assert.ok(s.requests.some((r) => r.url.startsWith(`${L.SIM}/pay/`)), 'the popup loaded the pay page');
          assert.equal((await L.simOrders(order)).length, 1, 'exactly one order at TrustPay');
          if (!popup.isClosed()) await popup.close();
          await L.finalState(t, s, `${locale}-${state}`);
        } finally {
          await s.ctx.close();
        }
      });
    }

    test(`refund after pay in ${locale} (admin API with the bearer)`, async (t) => {
      const s = await L.shopper(browser);
      try {
        const { order } = await L.openShop(s.page, { locale });
        await L.sim(`/_sim/orders/${order}/auto`, { outcome: 'pay', after_ms: 0 });
        const created = captureCreate(s.page);
        await L.clickPay(s.page);
        const { client_secret: secret } = await created;
        await L.waitStatus(s.page, L.phrase(locale, 'Paid'));

        const noAuth = await fetch(`${L.EDGE}/v1/admin/refunds`, { method: 'POST', body: '{}' });
        assert.equal(noAuth.status, 401, 'admin API without the bearer');
        const refund = await L.admin('/v1/admin/refunds', { order_no: order, refund_amount: '24.00', reason: 'e2e refund' });
        assert.equal(refund.status, 201, JSON.stringify(refund.body));
        assert.equal(refund.body.order_no, order);
        // TrustPay: 9 refunding → 7 refunded (callbacks to the edge); the shopper API follows.
        const view = await L.eventually(async () => {
          const r = await fetch(`${L.EDGE}/v1/orders/${order}`, { headers: { 'x-client-secret': secret } });
          const body = await r.json();
          return body.status === 7 ? body : null;
        }, 'the order to be refunded');
        assert.equal(view.state, 'refunded');
        const adminView = await L.admin(`/v1/admin/orders/${order}`);
        assert.equal(adminView.status, 200);
        assert.match(JSON.stringify(adminView.body), /"status":7/);
        await L.finalState(t, s, `${locale}-refunded-after-pay`);
      } finally {
        await s.ctx.close();
      }
    });
  }

  test('click-through: Pay on the simulator hosted page in the popup (en)', async (t) => {
    const s = await L.shopper(browser);
    try {
      const { order } = await L.openShop(s.page, { locale: 'en' });
      const popupP = s.ctx.waitForEvent('page');
      await L.clickPay(s.page);
      const popup = await popupP;
      await popup.waitForURL(`${L.SIM}/pay/**`);
      await L.waitStatus(s.page, L.phrase('en', 'Waiting'));
      assert.match(await popup.locator('main').textContent(), new RegExp(order));
      await popup.locator('button[value=pay]').click();
      await popup.waitForLoadState();
      assert.match(await popup.locator('body').textContent(), /return to the shop/);
      await L.waitStatus(s.page, L.phrase('en', 'Paid'));
      assert.equal(await L.buttonText(s.page), null, 'no pay button once paid');
      await L.finalState(t, s, 'en-paid-click-through');
    } finally {
      await s.ctx.close();
    }
  });

  test('popup blocked → "open payment page" link → pay in the new tab (zh-CN)', async (t) => {
    const s = await L.shopper(browser, { blockPopups: true });
    try {
      await L.openShop(s.page, { locale: 'zh-CN' });
      await L.clickPay(s.page);
      await L.waitStatus(s.page, L.phrase('zh-CN', 'PopupBlocked'));
      const link = s.page.locator('#pay a[part=reopen]');
      await link.waitFor({ state: 'visible' });
      // Nothing was opened yet: "Open", not "Reopen".
      assert.equal(await link.textContent(), L.phrase('zh-CN', 'OpenPage'));
      assert.ok((await link.getAttribute('href')).startsWith(`${L.SIM}/pay/`), 'link to the pay page');
      await L.finalState(t, s, 'zh-CN-popup-blocked');
      const tabP = s.ctx.waitForEvent('page');
      await link.click();
      const tab = await tabP;
      await tab.waitForURL(`${L.SIM}/pay/**`);
      await tab.locator('button[value=pay]').click();
      await L.waitStatus(s.page, L.phrase('zh-CN', 'Paid'));
      await L.finalState(t, s, 'zh-CN-paid-via-reopen-link');
    } finally {
      await s.ctx.close();
    }
  });

  test('redirect mode: leaves for the pay page, resumes after return (mount API, zh-CN)', async (t) => {
    const s = await L.shopper(browser);
    try {
      await s.page.goto(`${L.SHOP}/custom?mode=redirect&locale=zh-CN`);
      await L.waitButton(s.page);
      await L.clickPay(s.page);
      await s.page.waitForURL(`${L.SIM}/pay/**`);
      // The hosted page names the merchant order: <dt>Merchant order</dt><dd>{order_no}</dd>.
      const order = (await s.page.locator('dt:text-is("Merchant order") + dd').textContent()).trim();
      await s.page.locator('button[value=pay]').click();
      await s.page.waitForLoadState();
      assert.match(await s.page.locator('body').textContent(), /Payment successful/);
      // The shopper comes back to the shop: tracking resumes from sessionStorage.
      await s.page.goto(`${L.SHOP}/custom?mode=redirect&locale=zh-CN`);
      await L.waitStatus(s.page, L.phrase('zh-CN', 'Paid'));
      assert.equal((await L.simOrders(order)).length, 1, 'no second order');
      await L.finalState(t, s, 'zh-CN-redirect-resumed');
    } finally {
      await s.ctx.close();
    }
  });

  test('mount API page: dark theme, locale switcher, pay (ar → ja)', async (t) => {
    const s = await L.shopper(browser);
    try {
      await s.page.emulateMedia({ colorScheme: 'dark' });
      await s.page.goto(`${L.SHOP}/custom?locale=ar&theme=dark`);
      assert.equal(await L.waitButton(s.page), L.phrase('ar', 'PayNow'), 'no amount before fetchIntent');
      assert.equal(await rootAttr(s.page, 'data-theme'), 'dark');
      await L.axeCheck(s.page, 'custom page, dark, ar');
      await s.page.selectOption('#locale', 'ja');
      await s.page.waitForFunction((want) => document.querySelector('#pay')?.shadowRoot
        ?.querySelector('button')?.textContent === want, L.phrase('ja', 'PayNow'));
      assert.equal(await rootAttr(s.page, 'lang'), 'ja');
      await s.page.route(`${L.SHOP}/api/intent`, async (route) => {
        // The merchant backend mints the intent on click; decide the outcome for its order.
        const res = await route.fetch();
        const body = await res.json();
        await L.sim(`/_sim/orders/${body.order_no}/auto`, { outcome: 'pay', after_ms: 0 });
        await route.fulfill({ response: res, json: body });
      });
      await L.clickPay(s.page);
      await L.waitStatus(s.page, L.phrase('ja', 'Paid'));
      assert.match(await s.page.locator('#event-log').textContent(), /^Last event: /, 'onEvent reached the page');
      await L.finalState(t, s, 'ja-custom-dark-paid');
    } finally {
      await s.ctx.close();
    }
  });

  test('offline while waiting, then online: re-checks and shows paid (en)', async (t) => {
    const s = await L.shopper(browser);
    try {
      const { order } = await L.openShop(s.page, { locale: 'en' });
      const popupP = s.ctx.waitForEvent('page');
      await L.clickPay(s.page);
      const popup = await popupP;
      await L.waitStatus(s.page, L.phrase('en', 'Waiting'));
      await popup.close();
      await s.ctx.setOffline(true);
      await L.waitStatus(s.page, L.phrase('en', 'Offline'));
      await L.shot(s.page, 'en-offline');
      await L.sim(`/_sim/orders/${order}/pay`, {});
      await s.ctx.setOffline(false);
      await L.waitStatus(s.page, L.phrase('en', 'Paid'), 15000);
      await L.finalState(t, s, 'en-offline-then-paid');
    } finally {
      await s.ctx.close();
    }
  });

  test('declined, Try again: a new payment attempt pays the same order (en)', async (t) => {
    const s = await L.shopper(browser);
    try {
      const { order } = await L.openShop(s.page, { locale: 'en' });
      // Attempt 1 is declined; attempt 2 (TrustPay order `<order>__2`, not created yet) pays.
      await L.sim(`/_sim/orders/${order}/auto`, { outcome: 'decline', after_ms: 1000 });
      await L.sim(`/_sim/orders/${order}__2/auto`, { outcome: 'pay', after_ms: 1000 });
      const popupP = s.ctx.waitForEvent('page');
      await L.clickPay(s.page);
      const popup = await popupP;
      await L.waitStatus(s.page, L.phrase('en', 'Failed'));
      assert.equal(await L.buttonText(s.page), L.phrase('en', 'Retry'), 'Try again offered');
      if (!popup.isClosed()) await popup.close();
      const retryP = s.ctx.waitForEvent('page');
      const attemptP = s.page.waitForResponse((r) => r.url() === `${L.EDGE}/v1/orders/${order}/attempts`);
      await L.clickPay(s.page);
      const attempt = await attemptP;
      assert.equal(attempt.status(), 201, 'the attempts route created attempt 2');
      assert.equal((await attempt.json()).attempt, 2);
      const retry = await retryP;
      await L.waitStatus(s.page, L.phrase('en', 'Paid'));
      assert.equal((await L.simOrders(order)).length, 1, 'attempt 1 at TrustPay under the order number');
      assert.equal((await L.simOrders(`${order}__2`)).length, 1, 'attempt 2 under <order>__2');
      const seen = (await L.admin(`/v1/admin/orders/${order}`)).body;
      assert.equal(seen.state, 'paid', 'the merchant order is paid');
      assert.deepEqual(seen.attempts.map((a) => a.state), ['failed', 'paid']);
      if (!retry.isClosed()) await retry.close();
      await L.finalState(t, s, 'en-declined-try-again-paid');
    } finally {
      await s.ctx.close();
    }
  });

  test('edge down: network error after retries, then Try again pays (ar)', async (t) => {
    const s = await L.shopper(browser);
    try {
      const { order } = await L.openShop(s.page, { locale: 'ar' });
      let attempts = 0;
      const down = (route) => { attempts += 1; return route.abort('connectionrefused'); };
      await s.page.route(`${L.EDGE}/v1/orders`, down);
      await L.clickPay(s.page);
      await L.waitStatus(s.page, L.phrase('ar', 'NetworkError'), 30000);
      assert.ok(attempts >= 2, `the widget retried (${attempts} attempts)`);
      assert.equal(await L.buttonText(s.page), L.phrase('ar', 'Retry'));
      await L.finalState(t, s, 'ar-edge-down');
      await s.page.unroute(`${L.EDGE}/v1/orders`, down);
      await L.sim(`/_sim/orders/${order}/auto`, { outcome: 'pay', after_ms: 0 });
      await L.clickPay(s.page);
      await L.waitStatus(s.page, L.phrase('ar', 'Paid'));
      assert.equal((await L.simOrders(order)).length, 1, 'one order despite the retries');
      await L.finalState(t, s, 'ar-edge-back-paid');
    } finally {
      await s.ctx.close();
    }
  });
});

test('assertion count', (t) => { t.diagnostic(`assertions: ${L.assertionCount()}`); });
