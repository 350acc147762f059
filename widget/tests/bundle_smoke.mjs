// Smoke test of the *shipped* bundle (www/pkg/widget/v1/checkout.js + checkout_bg.wasm and the
// locale files in www/pkg/widget/locales/, as built by `cargo xtask size`) in Debian Chromium via
// playwright-core, under the strict CSP merchants are told to use. wasm-bindgen-test covers the
// Rust side; this covers what it can't: the boot glue, the IIFE, SRI of the wasm, the one-tag
// embed, TrustPayCheckout.mount, the custom element as shipped, the button drawn before the wasm
// is in (a click then pays once), locales fetched on demand (and English when that fails), and
// the localized fallback when CSP blocks wasm.
//
//   node widget/tests/bundle_smoke.mjs        (after `cargo xtask size`)
//
// A tiny in-process server plays both the merchant page and the edge (POST /v1/orders,
// GET /v1/orders/:no), so nothing else needs to run.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const dist = path.join(root, 'www', 'pkg');
if (!fs.existsSync(path.join(dist, 'widget', 'v1', 'checkout.js'))) {
  console.error('www/pkg/widget/v1/checkout.js is missing: run `cargo xtask size` (or the widget-size stage) first');
  process.exit(1);
}
const CSP_OK = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; connect-src 'self'";
const CSP_NO_WASM = "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'";

const b64url = (s) => Buffer.from(s).toString('base64url');
const intentFor = (no) => `v1.${b64url(JSON.stringify({ order_no: no, amount: '5.00', currency: 'USD', exp: 4102444800 }))}.sig`;
const intent = intentFor('S-1');
let polls = 0;
// Orders of the journey pages (R-1 redirect, P-1 popup + reload): state per order, attempts,
// and every create, so "Back / reload makes no new order" can be checked.
const journey = {};
const creates = [];

function page(csp, body) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}"><title>smoke</title></head><body>${body}</body></html>`;
}

const pages = {
  '/tag': page(CSP_OK, `<div id="pay"></div>
<script src="/widget/v1/checkout.js" data-edge="ORIGIN" data-intent="${intent}" data-target="#pay" data-locale="fr" async></script>`),
  '/head': page(CSP_OK, '').replace('</head>', `<script src="/widget/v1/checkout.js" data-edge="ORIGIN" data-intent="${intent}" data-target="#pay" data-locale="hi" async></script></head>`)
    .replace('</body>', '<div id="pay"></div></body>'),
  '/api': page(CSP_OK, `<div id="pay"></div><script src="/widget/v1/checkout.js"></script><script src="/api.js"></script>`),
  '/element': page(CSP_OK, `<trustpay-checkout intent="${intent}" locale="ar"></trustpay-checkout>
<script src="/widget/v1/checkout.js" data-edge="ORIGIN" async></script>`),
  '/redirect': page(CSP_OK, `<div id="pay"></div>
<script src="/widget/v1/checkout.js" data-edge="ORIGIN" data-intent="${intentFor('R-1')}" data-target="#pay" data-locale="en" data-mode="redirect" async></script>`),
  '/reload': page(CSP_OK, `<div id="pay"></div>
<script src="/widget/v1/checkout.js" data-edge="ORIGIN" data-intent="${intentFor('P-1')}" data-target="#pay" data-locale="en" async></script>`),
  '/early': page(CSP_OK, `<div id="pay"></div>
<script src="/widget/v1/checkout.js" data-edge="ORIGIN" data-intent="${intent}" data-target="#pay" data-locale="en" async></script>`),
  '/rtl': page(CSP_OK, `<div id="pay"></div>
<script src="/widget/v1/checkout.js" data-edge="ORIGIN" data-intent="${intent}" data-target="#pay" data-locale="ar" async></script>`),
  '/money': page(CSP_OK, `<script src="/widget/v1/checkout.js" data-edge="ORIGIN"></script><script src="/money.js"></script>`),
  '/blocked': page(CSP_NO_WASM, `<div id="pay"></div>
<script src="/widget/v1/checkout.js" data-edge="ORIGIN" data-intent="${intent}" data-target="#pay" data-locale="zh-CN" async></script>`),
};
const apiJs = `window.events = [];
var h = TrustPayCheckout.mount('#pay', { intent: ${JSON.stringify(intent)}, locale: 'de', theme: 'dark',
  onEvent: function (e) { window.events.push(e.type + ':' + e.state + (e.status ? ':' + e.status : '')); } });
h.on('ready', function () { window.readyViaOn = true; });
window.handle = h;`;

// Every locale × both gateway currencies × amounts that show each grouping rule: one widget
// each, the label's amount next to what the browser's Intl prints for it.
const moneyJs = `window.money = [];
var b64 = function (s) { return btoa(s).replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, ''); };
['en', 'zh-CN', 'zh-TW', 'es', 'fr', 'de', 'pt-BR', 'ja', 'ko', 'hi', 'ar', 'ru', 'id', 'tr', 'vi'].forEach(function (tag) {
  [['USD', '24.00'], ['INR', '1234567.89'], ['USD', '1234.50'], ['INR', '12345.05'], ['USD', '0.5']].forEach(function (c) {
    var el = document.createElement('div');
    document.body.append(el);
    var intent = 'v1.' + b64(JSON.stringify({ order_no: 'M-1', amount: c[1], currency: c[0], exp: 4102444800 })) + '.sig';
    window.money.push({ el: el, h: TrustPayCheckout.mount(el, { intent: intent, locale: tag }),
      want: tag + ' ' + new Intl.NumberFormat(tag, { style: 'currency', currency: c[0] }).format(Number(c[1])) });
  });
});`;

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  const origin = `http://127.0.0.1:${server.address().port}`;
  const send = (status, type, body) => { res.writeHead(status, { 'Content-Type': type }); res.end(body); };
  if (pages[url.pathname]) return send(200, 'text/html', pages[url.pathname].replaceAll('ORIGIN', origin));
  if (url.pathname === '/api.js') return send(200, 'text/javascript', apiJs);
  if (url.pathname === '/money.js') return send(200, 'text/javascript', moneyJs);
  const json = (status, body) => send(status, 'application/json', JSON.stringify(body));
  const view = (no) => ({ order_no: no, status: { pending: 1, failed: 3, paid: 5 }[journey[no].state],
    state: journey[no].state, amount: '5.00', currency: 'USD', updated_at: 1 });
  // The cashier on another origin (localhost vs 127.0.0.1), as TrustPay's is.
  const cashier = (no, n) => `http://localhost:${server.address().port}/cashier?o=${no}&a=${n}`;
  if (url.pathname === '/v1/orders' && req.method === 'POST') {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      const no = JSON.parse(Buffer.from(JSON.parse(body).intent.split('.')[1], 'base64url')).order_no;
      creates.push(no);
      if (no === 'S-1') {
        return json(201, { order_no: 'S-1', pay_url: `${origin}/cashier`, status: 1, state: 'pending',
          amount: '5.00', currency: 'USD', client_secret: 'cs' });
      }
      journey[no] = journey[no] || { state: 'pending', attempt: 1 };
      json(201, { order_no: no, pay_url: cashier(no, journey[no].attempt), status: 1, state: journey[no].state,
        amount: '5.00', currency: 'USD', client_secret: 'cs' });
    });
    return;
  }
  const attempt = url.pathname.match(/^\/v1\/orders\/([A-Z]-1)\/attempts$/);
  if (attempt && req.method === 'POST') {
    const o = journey[attempt[1]];
    if (req.headers['x-client-secret'] !== 'cs') return json(401, { error: { code: 'client_secret_invalid', message: 'x' } });
    if (o.state !== 'failed') return json(409, { error: { code: 'attempt_not_allowed', message: 'x' } });
    o.attempt += 1;
    o.state = 'pending';
    return json(201, { order_no: attempt[1], attempt: o.attempt, pay_url: cashier(attempt[1], o.attempt), status: 1,
      state: 'pending', amount: '5.00', currency: 'USD' });
  }
  const tracked = url.pathname.match(/^\/v1\/orders\/([A-Z]-1)$/);
  if (tracked && tracked[1] !== 'S-1' && journey[tracked[1]]) return json(200, view(tracked[1]));
  // The cashier's own buttons decide the current attempt (as the shopper paying would).
  if (url.pathname === '/cashier/decide') {
    journey[url.searchParams.get('o')].state = url.searchParams.get('outcome');
    return send(200, 'text/html', '<p>done</p>');
  }
  if (url.pathname === '/cashier' && url.searchParams.get('o')) {
    return send(200, 'text/html', `<p>cashier ${url.searchParams.get('o')} attempt ${url.searchParams.get('a')}</p>`);
  }
  if (url.pathname === '/v1/orders' && req.method === 'POST') {
    return send(201, 'application/json', JSON.stringify({ order_no: 'S-1', pay_url: `${origin}/cashier`, status: 1,
      state: 'pending', amount: '5.00', currency: 'USD', client_secret: 'cs' }));
  }
  if (url.pathname === '/v1/orders/S-1') {
    polls += 1;
    return send(200, 'application/json', JSON.stringify({ order_no: 'S-1', status: polls >= 2 ? 5 : 1,
      state: polls >= 2 ? 'paid' : 'pending',
      amount: '5.00', currency: 'USD', updated_at: 1 }));
  }
  if (url.pathname === '/cashier') return send(200, 'text/html', '<p>cashier</p>');
  const file = path.join(dist, path.normalize(url.pathname));
  if (file.startsWith(dist) && fs.existsSync(file) && fs.statSync(file).isFile()) {
    const type = file.endsWith('.wasm') ? 'application/wasm' : file.endsWith('.txt') ? 'text/plain; charset=utf-8' : 'text/javascript';
    return send(200, type, fs.readFileSync(file));
  }
  send(404, 'text/plain', 'not found');
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${server.address().port}`;

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--no-first-run', '--disable-sync', '--disable-quic'] });
const failures = [];
const check = (name, ok, detail) => { console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${ok ? '' : ' — ' + detail}`); if (!ok) failures.push(name); };
const shadowText = (p, sel, host = '#pay') => p.evaluate(([h, s]) => {
  const el = document.querySelector(h); const n = el && el.shadowRoot && el.shadowRoot.querySelector(s);
  return n ? n.textContent : null; }, [host, sel]);

try {
  const ctx = await browser.newContext();
  const violations = [];
  const newPage = async () => {
    const p = await ctx.newPage();
    p.on('console', (m) => { if (/Content Security Policy|Refused/.test(m.text())) violations.push(m.text()); });
    return p;
  };

  // 1. One tag: auto-mount, French (its locale file fetched on demand), then the whole flow.
  let p = await newPage();
  const localeRequests = [];
  p.on('request', (r) => { if (r.url().includes('/widget/locales/')) localeRequests.push(new URL(r.url()).pathname); });
  await p.goto(`${base}/tag`);
  await p.waitForFunction(() => { const s = document.querySelector('#pay').shadowRoot; return s && s.querySelector('button') && s.querySelector('button').textContent; });
  const label = await shadowText(p, 'button');
  check('script tag auto-mounts with a localized amount', /^Payer \u2068?5,00\s?\$/.test(label), label);
  check('French is fetched on demand: one request, a content-hashed file',
    localeRequests.length === 1 && /^\/widget\/locales\/fr\.[A-Za-z0-9_-]{43}\.txt$/.test(localeRequests[0]), localeRequests.join());
  await p.waitForFunction(() => window.TrustPayCheckout.version);
  const popupPromise = ctx.waitForEvent('page');
  await p.locator('#pay button').click();
  const popup = await popupPromise.catch(() => null);
  check('pay opens the cashier in a popup', !!popup, 'no popup');
  await p.waitForFunction(() => /reçu/.test(document.querySelector('#pay').shadowRoot.querySelector('[role=status]').textContent), null, { timeout: 8000 });
  check('tracks to paid (aria-live text)', true);
  await p.waitForTimeout(500);
  check('the popup is closed at the final state', popup.isClosed(), 'still open');
  check('no CSP violations', violations.length === 0, violations.join(' | '));
  await p.close();

  // 1b. The same tag in <head>, before its target exists: mounts once the DOM is there.
  p = await newPage();
  await p.goto(`${base}/head`);
  await p.waitForFunction(() => { const s = document.querySelector('#pay').shadowRoot; return s && s.querySelector('button'); });
  check('async tag in <head> waits for its data-target (Hindi)', /भुगतान करें$/.test(await shadowText(p, 'button')), await shadowText(p, 'button'));
  await p.close();

  // 2. TrustPayCheckout.mount() from a page script, events through onEvent and on().
  p = await newPage();
  await p.goto(`${base}/api`);
  await p.waitForFunction(() => window.readyViaOn === true);
  const theme = await p.evaluate(() => document.querySelector('#pay').shadowRoot.querySelector('.tp').getAttribute('data-theme'));
  check('mount() returns a handle; ready reaches on() and onEvent', (await p.evaluate(() => window.events.join())).includes('ready:idle'), await p.evaluate(() => window.events.join()));
  check('theme option applied', theme === 'dark', theme);
  check('German label', /^\u2068?5,00\s?\$\u2069? bezahlen$/.test(await shadowText(p, 'button')), await shadowText(p, 'button'));
  await p.evaluate(() => window.handle.destroy());
  check('destroy() empties the widget', (await p.evaluate(() => document.querySelector('#pay').shadowRoot.childElementCount)) === 0, 'not empty');
  await p.close();

  // 3. The custom element as shipped (defined after load, upgraded in place), Arabic RTL.
  p = await newPage();
  await p.goto(`${base}/element`);
  await p.waitForFunction(() => { const e = document.querySelector('trustpay-checkout'); return e.shadowRoot && e.shadowRoot.querySelector('button'); });
  const dir = await p.evaluate(() => document.querySelector('trustpay-checkout').shadowRoot.querySelector('.tp').getAttribute('dir'));
  check('<trustpay-checkout> mounts, dir=rtl for ar', dir === 'rtl', dir);
  await p.close();

  // 3b. Redirect mode: pay page, Back (no new order) → declined → Try again → pay page → Back → paid.
  p = await newPage();
  const status = (pg) => shadowText(pg, '[role=status]');
  const decide = (no, outcome) => fetch(`${base}/cashier/decide?o=${no}&outcome=${outcome}`);
  await p.goto(`${base}/redirect`);
  await p.waitForFunction(() => { const s = document.querySelector('#pay').shadowRoot; return s && s.querySelector('button') && s.querySelector('button').textContent; });
  await Promise.all([p.waitForURL(/\/cashier\?o=R-1&a=1/), p.locator('#pay button').click()]);
  await decide('R-1', 'failed');
  await p.goBack();
  await p.waitForFunction(() => /Payment failed/.test(document.querySelector('#pay').shadowRoot.querySelector('[role=status]').textContent), null, { timeout: 8000 });
  check('redirect: Back shows the declined payment', true);
  const focused = await p.evaluate(() => { const s = document.querySelector('#pay').shadowRoot; return s.activeElement && s.activeElement.textContent; });
  check('redirect: Try again shown and focused', focused === 'Try again', focused);
  await Promise.all([p.waitForURL(/\/cashier\?o=R-1&a=2/), p.locator('#pay button').click()]);
  check('redirect: Try again opens the new attempt in the same mode', true);
  await decide('R-1', 'paid');
  await p.goBack();
  await p.waitForFunction(() => /Payment received/.test(document.querySelector('#pay').shadowRoot.querySelector('[role=status]').textContent), null, { timeout: 8000 });
  check('redirect: Back after paying shows that payment', true);
  await p.reload();
  await p.waitForFunction(() => /Payment received/.test(document.querySelector('#pay').shadowRoot.querySelector('[role=status]').textContent), null, { timeout: 8000 });
  check('redirect: a reload still shows it', true);
  check('redirect: one order for the whole journey', creates.filter((c) => c === 'R-1').length === 1, creates.join());
  await p.close();

  // 3c. Popup mode: reload while the pay page is open, then pay in that (old) popup.
  p = await newPage();
  await p.goto(`${base}/reload`);
  await p.waitForFunction(() => { const s = document.querySelector('#pay').shadowRoot; return s && s.querySelector('button') && s.querySelector('button').textContent; });
  const oldPopupP = ctx.waitForEvent('page');
  await p.locator('#pay button').click();
  const oldPopup = await oldPopupP;
  await oldPopup.waitForURL(/cashier\?o=P-1/);
  check('popup: the pay page has no opener', await oldPopup.evaluate(() => window.opener === null), 'opener kept');
  await p.reload();
  await p.waitForFunction(() => /payment window/.test(document.querySelector('#pay').shadowRoot.querySelector('[role=status]').textContent), null, { timeout: 8000 });
  await decide('P-1', 'paid');
  await p.waitForFunction(() => /Payment received/.test(document.querySelector('#pay').shadowRoot.querySelector('[role=status]').textContent), null, { timeout: 20000 });
  const after = await status(p);
  check('popup: reload mid-payment then paying in the old popup ends in "Payment received"', true);
  check('popup: the window we lost the handle to gets the close hint', /close the payment window/.test(after) || oldPopup.isClosed(), after);
  check('popup: one order', creates.filter((c) => c === 'P-1').length === 1, creates.join());
  if (!oldPopup.isClosed()) await oldPopup.close();
  await p.close();

  // 3d. The Arabic file fails to load: English text, lang="en", dir="ltr", and it still pays.
  p = await newPage();
  let arRequests = 0;
  await p.route('**/widget/locales/**', (r) => { arRequests += 1; return r.abort(); });
  await p.goto(`${base}/rtl`);
  await p.waitForFunction(() => window.TrustPayCheckout.version);
  const root = () => p.evaluate(() => { const r = document.querySelector('#pay').shadowRoot.querySelector('.tp'); return [r.getAttribute('lang'), r.getAttribute('dir')].join(); });
  check('locale fetch fails: English button, lang=en dir=ltr', arRequests === 1 && /^Pay \u2068?\$5\.00\u2069?$/.test(await shadowText(p, 'button')) && await root() === 'en,ltr',
    `${arRequests} ${await shadowText(p, 'button')} ${await root()}`);
  const popupAr = ctx.waitForEvent('page');
  await p.locator('#pay button').click();
  const arPopup = await popupAr.catch(() => null);
  await p.waitForFunction(() => /^(Finish paying|Payment received)/.test(document.querySelector('#pay').shadowRoot.querySelector('[role=status]').textContent), null, { timeout: 8000 });
  check('locale fetch fails: the English widget works (popup, English status)', !!arPopup, 'no popup');
  await arPopup?.close();
  await p.close();

  // 3e. First paint before the wasm: the button is there and `ready` fires while the wasm is
  // held back; two clicks then, and the wasm's arrival turns them into exactly one order.
  p = await newPage();
  let releaseWasm;
  const wasmHeld = new Promise((r) => { releaseWasm = r; });
  await p.route('**/checkout_bg.wasm', async (r) => { await wasmHeld; await r.continue(); });
  await p.addInitScript(() => { window.readies = []; window.addEventListener('trustpay:ready', (e) => window.readies.push(e.detail.state), true); });
  const createsBefore = creates.length;
  await p.goto(`${base}/early`);
  await p.waitForFunction(() => window.readies.length > 0, null, { timeout: 8000 });
  const early = await shadowText(p, 'button');
  check('button drawn and ready before the wasm arrives', /^Pay \u2068\$5\.00\u2069$/.test(early) && !(await p.evaluate(() => window.TrustPayCheckout.version)), early);
  const popupEarly = ctx.waitForEvent('page', { timeout: 20000 });
  popupEarly.catch(() => {});
  await p.locator('#pay button').click();
  // aria-disabled now: Playwright would wait for it to be "enabled"; a shopper just clicks.
  await p.locator('#pay button').click({ force: true });
  check('a click during load is queued (aria-disabled), nothing sent yet', creates.length === createsBefore
    && (await p.evaluate(() => document.querySelector('#pay').shadowRoot.querySelector('button').getAttribute('aria-disabled'))) === 'true', `${creates.length - createsBefore} creates`);
  releaseWasm();
  const opened = await popupEarly.catch(() => null);
  await p.waitForFunction(() => /^Finish paying|received/.test(document.querySelector('#pay').shadowRoot.querySelector('[role=status]').textContent), null, { timeout: 8000 });
  await p.waitForTimeout(300);
  check('the queued click pays exactly once (one order, the popup opens)', creates.length - createsBefore === 1 && !!opened, `${creates.length - createsBefore} creates, popup ${!!opened}`);
  check('`ready` fired once, state idle', (await p.evaluate(() => window.readies.join())) === 'idle', await p.evaluate(() => window.readies.join()));
  await opened?.close();
  await p.close();

  // 3f. Amounts without Intl: the script's first label and the wasm's are what Intl prints.
  p = await newPage();
  let releaseMoney;
  const moneyHeld = new Promise((r) => { releaseMoney = r; });
  await p.route('**/checkout_bg.wasm', async (r) => { await moneyHeld; await r.continue(); });
  await p.goto(`${base}/money`);
  const amounts = () => p.evaluate(() => window.money.map((m) => {
    const b = m.el.shadowRoot && m.el.shadowRoot.querySelector('button');
    const t = b ? b.textContent : '';
    return [m.want, m.want.split(' ')[0] + ' ' + t.slice(t.indexOf('\u2068') + 1, t.indexOf('\u2069'))];
  }));
  await p.waitForFunction(() => window.money && window.money.every((m) => m.el.shadowRoot && m.el.shadowRoot.querySelector('button')), null, { timeout: 8000 });
  const drawn = (await amounts()).filter(([want, got]) => want !== got);
  check('first label: every locale and currency as Intl writes it (75 amounts)', drawn.length === 0, JSON.stringify(drawn.slice(0, 5)));
  releaseMoney();
  await p.evaluate(() => Promise.all(window.money.map((m) => m.h.ready)));
  const taken = (await amounts()).filter(([want, got]) => want !== got);
  check('the wasm\'s label: the same amounts', taken.length === 0, JSON.stringify(taken.slice(0, 5)));
  await p.close();

  // 4. CSP without 'wasm-unsafe-eval': localized plain fallback + error event.
  p = await newPage();
  await p.addInitScript(() => { window.errs = []; document.addEventListener('trustpay:error', (e) => window.errs.push(e.detail.code), true); });
  await p.goto(`${base}/blocked`);
  await p.waitForFunction(() => document.querySelector('#pay').shadowRoot?.querySelector('[role=alert]'), null, { timeout: 8000 });
  const fallback = await p.evaluate(() => document.querySelector('#pay').shadowRoot.textContent);
  check('wasm blocked by CSP: localized fallback', fallback === '支付组件加载失败，请检查网络后刷新页面。', fallback);
  check('wasm blocked by CSP: error event load_failed', (await p.evaluate(() => window.errs.join())) === 'load_failed', await p.evaluate(() => window.errs.join()));
  await p.close();
} finally {
  await browser.close();
  server.close();
}
if (failures.length) { console.error(`${failures.length} failed`); process.exit(1); }
console.log('bundle smoke: all passed');
