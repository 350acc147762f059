// Gateway faults in a real browser: every TrustPay error code on order creation, TrustPay 5xx
// (once: retried with the same intent; always: a localized "try again later"), slow TrustPay.
// Faults are global and first-in first-out in the simulator, so this file runs its tests one
// after another, never alongside flows.test.mjs (the stage runs files with --test-concurrency=1).
import { describe, test, before, after } from 'node:test';
import * as L from './lib.mjs';

const { assert } = L;

const CREATE = '/v4/payin/create/order';
const LOCALES = ['en', 'zh-CN', 'ar'];
let browser;
before(async () => {
  browser = await L.launch();
  await L.sim('/_sim/faults', undefined, 'DELETE');
});
after(async () => {
  await L.sim('/_sim/faults', undefined, 'DELETE').catch(() => {});
  await browser?.close();
});

/** What the widget must say for a TrustPay code on create (widget/src/i18n/mod.rs). */
function expectedPhrase(code) {
  // 880010 (backend_success) is a success code: an envelope with it but without `data` is
  // not an error the gateway named, so the edge answers `gateway_error` (→ ServiceTrouble).
  if (code === 880010) return 'ServiceTrouble';
  const p = L.GATEWAY_PHRASE[code];
  assert.ok(p, `the widget maps ${code}`);
  return p;
}

describe('faults', { concurrency: 1 }, () => {
  test('each TrustPay error code 880002-880024 on create shows its localized message (en, zh-CN, ar)', async (t) => {
    const shoppers = await Promise.all(LOCALES.map(() => L.shopper(browser)));
    const seen = Object.fromEntries(LOCALES.map((l) => [l, {}]));
    try {
      for (let code = 880002; code <= 880024; code += 1) {
        const want = expectedPhrase(code);
        const orders = await Promise.all(shoppers.map((s, i) => L.openShop(s.page, { locale: LOCALES[i] })));
        await L.sim('/_sim/faults/requests', { kind: 'code', code, count: LOCALES.length, path: CREATE });
        await Promise.all(shoppers.map(async (s, i) => {
          const locale = LOCALES[i];
          await L.clickPay(s.page);
          await L.waitStatus(s.page, L.phrase(locale, want), 20000);
          const text = await L.statusText(s.page);
          assert.ok(!/8800\d\d|_/.test(text), `${locale} ${code}: no raw code in "${text}"`);
          const firstOfPhrase = !Object.values(seen[locale]).some((v) => v.phrase === want);
          seen[locale][code] = { phrase: want, text };
          if (firstOfPhrase) await L.axeCheck(s.page, `${locale} ${code}`);
          await L.shot(s.page, `error-${locale}-${code}`);
          assert.equal((await L.simOrders(orders[i].order)).length, 0, 'TrustPay created no order');
        }));
        const left = await L.sim('/_sim/faults', undefined, 'GET');
        assert.equal(JSON.stringify(left).includes(`${code}`), false, `fault ${code} was consumed`);
      }
      for (const locale of LOCALES) {
        // Same phrase ⇔ same text: codes read differently exactly where the table differs.
        const codes = Object.keys(seen[locale]);
        assert.equal(codes.length, 23);
        const mismatched = codes.flatMap((a) => codes.filter((b) =>
          (seen[locale][a].text === seen[locale][b].text) !== (seen[locale][a].phrase === seen[locale][b].phrase))
          .map((b) => `${a}/${b}`));
        assert.deepEqual(mismatched, [], `${locale}: texts differ exactly where the phrases differ`);
        const distinct = new Set(codes.map((c) => seen[locale][c].text));
        t.diagnostic(`${locale}: 23 codes → ${distinct.size} distinct messages`);
      }
      for (const s of shoppers) await s.checkCleanliness(t);
    } finally {
      await Promise.all(shoppers.map((s) => s.ctx.close()));
    }
  });

  test('TrustPay 5xx once: the widget retries with the same intent and the payment goes through (en)', async (t) => {
    const s = await L.shopper(browser);
    try {
      const { order } = await L.openShop(s.page, { locale: 'en' });
      await L.sim(`/_sim/orders/${order}/auto`, { outcome: 'pay', after_ms: 0 });
      await L.sim('/_sim/faults/requests', { kind: 'http', status: 503, count: 1, path: CREATE });
      const creates = [];
      s.page.on('response', (r) => { if (r.url() === `${L.EDGE}/v1/orders` && r.request().method() === 'POST') creates.push(r.status()); });
      await L.clickPay(s.page);
      await L.waitStatus(s.page, L.phrase('en', 'Paid'));
      assert.deepEqual(creates.slice(0, 2), [503, 201], 'gateway_unavailable, then created');
      assert.equal((await L.simOrders(order)).length, 1, 'one order, no duplicate');
      await L.finalState(t, s, 'en-trustpay-5xx-once-paid');
    } finally {
      await s.ctx.close();
    }
  });

  test('TrustPay 5xx persistently: "try again in a few minutes" after the retries (zh-CN)', async (t) => {
    const s = await L.shopper(browser);
    try {
      const { order } = await L.openShop(s.page, { locale: 'zh-CN' });
      await L.sim('/_sim/faults/requests', { kind: 'http', status: 502, count: 50, path: CREATE });
      await L.clickPay(s.page);
      await L.waitStatus(s.page, L.phrase('zh-CN', 'ServiceTrouble'), 30000);
      assert.equal(await L.buttonText(s.page), L.phrase('zh-CN', 'Retry'));
      assert.equal((await L.simOrders(order)).length, 0);
      await L.finalState(t, s, 'zh-CN-trustpay-5xx');
    } finally {
      await L.sim('/_sim/faults', undefined, 'DELETE');
      await s.ctx.close();
    }
  });

  test('slow TrustPay (3 s): "preparing your payment" meanwhile, then paid (ar)', async (t) => {
    const s = await L.shopper(browser);
    try {
      const { order } = await L.openShop(s.page, { locale: 'ar' });
      await L.sim(`/_sim/orders/${order}/auto`, { outcome: 'pay', after_ms: 0 });
      await L.sim('/_sim/faults/requests', { kind: 'delay', ms: 3000, count: 1, path: CREATE });
      const started = Date.now();
      await L.clickPay(s.page);
      await L.waitStatus(s.page, L.phrase('ar', 'Creating'), 2500);
      await L.waitStatus(s.page, L.phrase('ar', 'Paid'), 20000);
      assert.ok(Date.now() - started >= 3000, 'the answer was slow');
      assert.equal((await L.simOrders(order)).length, 1);
      await L.finalState(t, s, 'ar-slow-trustpay-paid');
    } finally {
      await s.ctx.close();
    }
  });
});

test('assertion count', (t) => { t.diagnostic(`assertions: ${L.assertionCount()}`); });
