// Shared helpers of the browser e2e suite (tests/e2e/*.test.mjs).
//
// The stack (dev-stack: trustpay-sim + edge under wrangler dev + demo shop) is started by
// `cargo xtask test browser-e2e`, which passes its URLs and per-run credentials:
//   E2E_SHOP, E2E_EDGE, E2E_SIM, E2E_MERCHANT_TOKEN, E2E_REFUND_TOKEN, E2E_SECRETS (comma-separated values that
//   must never appear in anything the page sends: TrustPay API key + secret, intent key, token).
//
// Every shopper context records: CSP violations (a `securitypolicyviolation` listener added
// through CDP, so the page's own CSP stays in force), console "Refused ..." lines, and every
// request's URL, headers and body (checked for the secrets). axe-core is injected with
// `page.evaluate(axe.source)` (CDP Runtime.evaluate, which the page CSP does not govern) into the
// same, non-bypassed page, so CSP counting keeps running around it.
import fs from 'node:fs';
import path from 'node:path';
import strict from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(import.meta.url);
const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

function need(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run the suite with \`cargo xtask test browser-e2e\` (it starts the dev stack)`);
  }
  return value.replace(/\/$/, '');
}
export const SHOP = need('E2E_SHOP');
export const EDGE = need('E2E_EDGE');
export const SIM = need('E2E_SIM');
export const TOKEN = need('E2E_MERCHANT_TOKEN');
// Refunds take their own bearer (MERCHANT_REFUND_TOKEN).
export const REFUND_TOKEN = need('E2E_REFUND_TOKEN');
export const SECRETS = need('E2E_SECRETS').split(',').filter(Boolean);

/** node:assert/strict, counting every assertion made through it (reported per file). */
let assertions = 0;
export const assert = new Proxy(strict, {
  apply(target, self, args) { assertions += 1; return Reflect.apply(target, self, args); },
  get(target, prop) {
    const value = target[prop];
    return typeof value === 'function' && /^[a-z]/.test(String(prop))
      ? (...args) => { assertions += 1; return value(...args); }
      : value;
  },
});
export const assertionCount = () => assertions;

export const ARTIFACTS = path.join(root, 'tests', 'artifacts');
fs.mkdirSync(ARTIFACTS, { recursive: true });

// ---------------------------------------------------------------------------------------------
// The widget's message tables, read from its source (widget/src/i18n), so the suite checks the
// shipped text rather than a copy of it.
const i18nDir = path.join(root, 'widget', 'src', 'i18n');
const localeFiles = { en: 'en.rs', 'zh-CN': 'zh_cn.rs', ar: 'ar.rs', ja: 'ja.rs' };
export const PHRASES = Object.fromEntries(Object.entries(localeFiles).map(([tag, file]) => {
  const src = fs.readFileSync(path.join(i18nDir, file), 'utf8');
  const table = {};
  for (const m of src.matchAll(/^\s*(\w+) => "((?:[^"\\]|\\.)*)",\s*$/gm)) table[m[1]] = JSON.parse(`"${m[2]}"`);
  return [tag, table];
}));

/** ErrorCode variant → number, from checkout-core (core/src/codes.rs). */
const codesSrc = fs.readFileSync(path.join(root, 'core', 'src', 'codes.rs'), 'utf8');
const CODE_OF = Object.fromEntries([...codesSrc.matchAll(/^\s*(\w+) = (8800\d\d) =>/gm)].map((m) => [m[1], Number(m[2])]));

/** TrustPay code → Phrase variant, from `fn gateway_phrase` in widget/src/i18n/mod.rs. */
export const GATEWAY_PHRASE = (() => {
  const mod = fs.readFileSync(path.join(i18nDir, 'mod.rs'), 'utf8');
  const body = mod.slice(mod.indexOf('fn gateway_phrase'), mod.indexOf('fn api_phrase')).replace(/\/\/.*$/gm, '');
  const out = {};
  for (const arm of body.matchAll(/((?:E::\w+\s*\|?\s*)+)=>\s*\{?\s*Phrase::(\w+)/g)) {
    for (const v of arm[1].matchAll(/E::(\w+)/g)) if (CODE_OF[v[1]]) out[CODE_OF[v[1]]] = arm[2];
  }
  return out;
})();

/** `text` with `{amount}` filled, the amount isolated (U+2068 … U+2069) as the widget shows it. */
export const phrase = (locale, key, amount) => {
  const text = PHRASES[locale][key];
  assert.ok(text, `no phrase ${key} in ${locale}`);
  return amount === undefined ? text : text.replace('{amount}', `\u2068${amount}\u2069`);
};

// ---------------------------------------------------------------------------------------------
export const LAUNCH = {
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--no-first-run', '--disable-sync', '--disable-quic'],
};
export const launch = () => chromium.launch(LAUNCH);

/** A shopper: a fresh context with CSP, console and request recording. */
export async function shopper(browser, { blockPopups = false } = {}) {
  const ctx = await browser.newContext({ viewport: { width: 1100, height: 700 } });
  const requests = [];
  const refused = [];
  ctx.on('request', (req) => {
    const entry = { url: req.url(), headers: req.headers(), body: req.postData() ?? '' };
    requests.push(entry);
    // allHeaders() adds what the network stack set (cookies, etc.) once known.
    req.allHeaders().then((h) => { entry.headers = h; }, () => {});
  });
  await ctx.addInitScript(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  if (blockPopups) {
    // What a popup blocker does to window.open: returns null.
    await ctx.addInitScript(() => { window.open = () => null; });
  }
  ctx.on('page', (p) => p.on('console', (m) => {
    if (/Content.Security.Policy|Refused to/i.test(m.text())) refused.push(m.text());
  }));
  const page = await ctx.newPage();
  return {
    ctx, page, requests, refused,
    /** Asserts no CSP violation in the shop page (listener + console) and no leaked secret. */
    async checkCleanliness(t, p = page) {
      const csp = await p.evaluate(() => window.__csp);
      assert.deepEqual(csp, [], 'securitypolicyviolation events');
      assert.deepEqual(refused, [], 'console CSP refusals');
      // Positive control: the recorder saw the create call with its body.
      assert.ok(requests.some((r) => r.url === `${EDGE}/v1/orders` && r.body.includes('"intent"')), 'create request recorded');
      assertNoLeak(requests);
      t?.diagnostic?.(`${requests.length} requests recorded, 0 CSP violations, no secret in any of them`);
    },
  };
}

export function assertNoLeak(requests) {
  assert.ok(requests.length > 0, 'requests were recorded');
  const leaks = requests.filter((req) => {
    const blob = `${req.url}\n${JSON.stringify(req.headers)}\n${req.body}`;
    return SECRETS.some((secret) => blob.includes(secret));
  }).map((req) => req.url);
  assert.deepEqual(leaks, [], 'requests carrying the API key, secret, intent key or merchant token');
}

// ---------------------------------------------------------------------------------------------
// The widget in the page (open Shadow DOM under #pay).
export const statusText = (page) => page.evaluate(() => {
  const s = document.querySelector('#pay')?.shadowRoot?.querySelector('[role=status]');
  return s ? s.textContent : null;
});
export const buttonText = (page) => page.evaluate(() => {
  const b = document.querySelector('#pay')?.shadowRoot?.querySelector('button');
  return b && !b.hidden ? b.textContent : null;
});

/** Waits until the status reads exactly `text`. */
export async function waitStatus(page, text, timeout = 30000) {
  try {
    // At a final state the widget may add its "you can close the payment window" hint after
    // the sentence (when the browser refuses to close the cross-origin popup).
    await page.waitForFunction((want) => {
      const got = document.querySelector('#pay')?.shadowRoot?.querySelector('[role=status]')?.textContent;
      return got === want || (typeof got === 'string' && got.startsWith(`${want} `));
    }, text, { timeout, polling: 100 });
  } catch (e) {
    throw new Error(`status never became ${JSON.stringify(text)}; it is ${JSON.stringify(await statusText(page))}`);
  }
}

/** Waits for the pay button and returns its text. */
export async function waitButton(page, timeout = 20000) {
  await page.waitForFunction(() => {
    const b = document.querySelector('#pay')?.shadowRoot?.querySelector('button');
    return b && !b.hidden && b.textContent && b.getAttribute('aria-disabled') !== 'true';
  }, null, { timeout, polling: 100 });
  return buttonText(page);
}

/** Clicks the widget's pay button (Playwright pierces the open shadow root). */
export const clickPay = (page) => page.locator('#pay button[part=button]').click();

/** The shop page's order number (index.html shows it). */
export const orderNo = async (page) => (await page.locator('.order-ref code').textContent()).trim();

/** Opens the one-tag shop page in `locale` and waits for the pay button. */
export async function openShop(page, { locale = 'en', mode = 'popup' } = {}) {
  await page.goto(`${SHOP}/?locale=${encodeURIComponent(locale)}&mode=${mode}`);
  const label = await waitButton(page);
  return { order: await orderNo(page), label };
}

// ---------------------------------------------------------------------------------------------
// axe-core, 0 violations.
export async function axeCheck(page, label) {
  const hasAxe = await page.evaluate(() => typeof window.axe === 'object');
  if (!hasAxe) await page.evaluate(axeSource);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const summary = result.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  assert.deepEqual(summary, [], `axe violations in ${label}`);
}

/** Screenshot of a final state into tests/artifacts/<name>.png. */
export async function shot(page, name) {
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

/** The final-state checks every test ends with: axe, CSP, leaks, screenshot. */
export async function finalState(t, s, name, page = s.page) {
  await axeCheck(page, name);
  await s.checkCleanliness(t, page);
  await shot(page, name);
}

// ---------------------------------------------------------------------------------------------
// The simulator's control API and the edge's admin API.
export async function sim(pathname, body, method = 'POST') {
  const res = await fetch(`${SIM}${pathname}`, {
    method, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  assert.ok(res.ok, `sim ${method} ${pathname}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}
export const simOrders = async (order) => (await sim('/_sim/orders', undefined, 'GET'))
  .filter((o) => (o.order_no ?? o.merchant_order_no) === order);

export async function admin(pathname, body) {
  const res = await fetch(`${EDGE}${pathname}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: {
      authorization: `Bearer ${pathname.startsWith('/v1/admin/refunds') ? REFUND_TOKEN : TOKEN}`,
      'content-type': 'application/json',
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

/** Polls `fn` until it returns a truthy value. */
export async function eventually(fn, what, timeout = 20000) {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    last = await fn();
    if (last) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
}
