// Smoke test of the *shipped* bundle (www/pkg/widget/v1/checkout.js + checkout_bg.wasm, as
// built by `cargo xtask size`) in Debian Chromium via playwright-core, under the strict CSP
// merchants are told to use. wasm-bindgen-test covers the Rust side; this covers what it
// can't: the boot glue, the IIFE, SRI of the wasm, the one-tag embed, TrustPayCheckout.mount,
// the custom element as shipped, and the localized fallback when CSP blocks wasm.
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
const intent = `v1.${b64url(JSON.stringify({ order_no: 'S-1', amount: '5.00', currency: 'USD', exp: 4102444800 }))}.sig`;
let polls = 0;

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
  '/blocked': page(CSP_NO_WASM, `<div id="pay"></div>
<script src="/widget/v1/checkout.js" data-edge="ORIGIN" data-intent="${intent}" data-target="#pay" data-locale="zh-CN" async></script>`),
};
const apiJs = `window.events = [];
var h = TrustPayCheckout.mount('#pay', { intent: ${JSON.stringify(intent)}, locale: 'de', theme: 'dark',
  onEvent: function (e) { window.events.push(e.type + ':' + e.state + (e.status ? ':' + e.status : '')); } });
h.on('ready', function () { window.readyViaOn = true; });
window.handle = h;`;

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  const origin = `http://127.0.0.1:${server.address().port}`;
  const send = (status, type, body) => { res.writeHead(status, { 'Content-Type': type }); res.end(body); };
  if (pages[url.pathname]) return send(200, 'text/html', pages[url.pathname].replaceAll('ORIGIN', origin));
  if (url.pathname === '/api.js') return send(200, 'text/javascript', apiJs);
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
    const type = file.endsWith('.wasm') ? 'application/wasm' : 'text/javascript';
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

  // 1. One tag: auto-mount, French, then the whole flow against the fake edge.
  let p = await newPage();
  await p.goto(`${base}/tag`);
  await p.waitForFunction(() => { const s = document.querySelector('#pay').shadowRoot; return s && s.querySelector('button') && s.querySelector('button').textContent; });
  const label = await shadowText(p, 'button');
  check('script tag auto-mounts with a localized amount', /^Payer 5,00\s?\$/.test(label), label);
  const popupPromise = ctx.waitForEvent('page');
  await p.locator('#pay button').click();
  const popup = await popupPromise.catch(() => null);
  check('pay opens the cashier in a popup', !!popup, 'no popup');
  await p.waitForFunction(() => /reçu/.test(document.querySelector('#pay').shadowRoot.querySelector('[role=status]').textContent), null, { timeout: 8000 });
  check('tracks to paid (aria-live text)', true);
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
  check('German label', /^5,00\s?\$ bezahlen$/.test(await shadowText(p, 'button')), await shadowText(p, 'button'));
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

  // 4. CSP without 'wasm-unsafe-eval': localized plain fallback + error event.
  p = await newPage();
  await p.addInitScript(() => { window.errs = []; document.addEventListener('trustpay:error', (e) => window.errs.push(e.detail.code), true); });
  await p.goto(`${base}/blocked`);
  await p.waitForFunction(() => document.querySelector('#pay [role=alert]'), null, { timeout: 8000 });
  const fallback = await p.evaluate(() => document.querySelector('#pay').textContent);
  check('wasm blocked by CSP: localized fallback', fallback === '支付组件加载失败，请检查网络后刷新页面。', fallback);
  check('wasm blocked by CSP: error event load_failed', (await p.evaluate(() => window.errs.join())) === 'load_failed', await p.evaluate(() => window.errs.join()));
  await p.close();
} finally {
  await browser.close();
  server.close();
}
if (failures.length) { console.error(`${failures.length} failed`); process.exit(1); }
console.log('bundle smoke: all passed');
