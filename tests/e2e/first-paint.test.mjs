// The first paint against the whole stack: locale files on demand from the edge, English when
// that file can't be had, and a click before the wasm is in (see lib.mjs for the set-up;
// widget/tests/bundle_smoke.mjs checks the same bundle against a stub server).
import { describe, test, before, after } from 'node:test';
import * as L from './lib.mjs';

const { assert } = L;

let browser;
before(async () => { browser = await L.launch(); });
after(async () => { await browser?.close(); });

const localAmount = (page, locale) => page.evaluate((loc) => new Intl.NumberFormat(loc, { style: 'currency', currency: 'USD' }).format(24), locale);
const rootAttr = (page, name) => page.evaluate((n) => document.querySelector('#pay').shadowRoot.querySelector('[part=root]').getAttribute(n), name);
const localeFile = (url) => url.startsWith(`${L.EDGE}/widget/locales/`);
const creates = (s) => s.requests.filter((r) => r.url === `${L.EDGE}/v1/orders` && r.body.includes('"intent"')).length;

describe('first paint', { concurrency: 3 }, () => {
  test('a locale other than en is fetched on demand from the edge and renders (zh-CN)', async () => {
    const s = await L.shopper(browser);
    try {
      const answers = [];
      s.page.on('response', (r) => { if (localeFile(r.url())) answers.push([r.url(), r.status()]); });
      const { label } = await L.openShop(s.page, { locale: 'zh-CN' });
      assert.equal(label, L.phrase('zh-CN', 'PayAmount', await localAmount(s.page, 'zh-CN')), 'Chinese label, Chinese amount');
      assert.equal(await rootAttr(s.page, 'lang'), 'zh-CN');
      const asked = s.requests.filter((r) => localeFile(r.url)).map((r) => r.url);
      assert.equal(asked.length, 1, `one locale file requested: ${asked.join(', ')}`);
      assert.match(asked[0], /\/widget\/locales\/zh-CN\.[A-Za-z0-9_-]{43}\.txt$/, 'the content-addressed zh-CN file');
      assert.deepEqual(answers, [[asked[0], 200]], 'served by the edge');
      await L.axeCheck(s.page, 'zh-CN first paint');
    } finally {
      await s.ctx.close();
    }
  });

  test('its locale file failing: English text, lang=en dir=ltr, and paying works (ar)', async (t) => {
    const s = await L.shopper(browser);
    try {
      let refused = 0;
      await s.page.route((url) => localeFile(url.href), (route) => { refused += 1; return route.abort(); });
      const { order, label } = await L.openShop(s.page, { locale: 'ar' });
      assert.equal(refused, 1, 'the ar file was asked for once');
      assert.equal(label, L.phrase('en', 'PayAmount', await localAmount(s.page, 'en')), 'English label');
      assert.equal(await rootAttr(s.page, 'lang'), 'en');
      assert.equal(await rootAttr(s.page, 'dir'), 'ltr');
      await L.sim(`/_sim/orders/${order}/auto`, { outcome: 'pay', after_ms: 1000 });
      const popupP = s.ctx.waitForEvent('page');
      await L.clickPay(s.page);
      const popup = await popupP;
      await L.waitStatus(s.page, L.phrase('en', 'Paid'));
      assert.equal(await rootAttr(s.page, 'lang'), 'en', 'still English at the final state');
      if (!popup.isClosed()) await popup.close();
      await L.finalState(t, s, 'ar-locale-file-failed-en-paid');
    } finally {
      await s.ctx.close();
    }
  });

  test('clicks before the wasm is in: queued, then exactly one order that pays (en)', async (t) => {
    const s = await L.shopper(browser);
    try {
      let release;
      const held = new Promise((r) => { release = r; });
      await s.page.route((url) => url.href.endsWith('/checkout_bg.wasm'), async (route) => { await held; await route.continue(); });
      await s.page.addInitScript(() => { window.readies = 0; window.addEventListener('trustpay:ready', () => { window.readies += 1; }, true); });
      const { order, label } = await L.openShop(s.page, { locale: 'en' });
      assert.equal(label, L.phrase('en', 'PayAmount', await localAmount(s.page, 'en')), 'the drawn button, before the wasm');
      assert.equal(await s.page.evaluate(() => window.TrustPayCheckout.version), '', 'the wasm is not in yet');
      await L.sim(`/_sim/orders/${order}/auto`, { outcome: 'pay', after_ms: 1000 });
      await L.clickPay(s.page);
      // Now aria-disabled: a shopper clicks again anyway (Playwright would wait for "enabled").
      await s.page.locator('#pay button[part=button]').click({ force: true });
      await s.page.waitForTimeout(300);
      assert.equal(creates(s), 0, 'nothing sent while the wasm is held');
      release();
      await L.waitStatus(s.page, L.phrase('en', 'Paid'));
      assert.equal(creates(s), 1, 'one create request for two early clicks');
      assert.equal((await L.simOrders(order)).length, 1, 'exactly one order at TrustPay');
      assert.equal(await s.page.evaluate(() => window.readies), 1, '`ready` fired once');
      for (const p of s.ctx.pages()) if (p !== s.page && !p.isClosed()) await p.close();
      await L.finalState(t, s, 'en-early-clicks-paid-once');
    } finally {
      await s.ctx.close();
    }
  });
});

test('assertion count', (t) => { t.diagnostic(`assertions: ${L.assertionCount()}`); });
