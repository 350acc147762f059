// Time to ready, for `cargo xtask bench` (run by tests/src/bin/bench-stack.rs, which starts the
// simulator, the edge under `wrangler dev` and the demo shop, and passes their URLs).
//
//   node bench/time_to_ready.mjs --widget URL --baseline URL [--widget-static URL] [--runs 25]
//                                [--warmup 2] [--locale FILE]
//
// `--widget-static`: the same widget page whose widget files come from a plain static file
// server instead of the edge (`wrangler dev`'s asset server, which is slower locally than
// Cloudflare's), loaded in the same rounds; it shows how much of the widget's time is the
// local asset server's.
//
// Each load is cold: a new browser context (empty HTTP cache, no compiled-wasm cache) with the
// cache disabled over CDP. Measured in the page, from navigation start (performance.now() = 0)
// to:
//   widget   — the first `trustpay:ready` event (bubbles and is composed, so a capturing
//              listener on window installed before any page script sees it);
//   baseline — `window.__baselineReadyAt`, set by www/baseline.js (a plain <button> exists).
// The two pages alternate (which one goes first flips every round) so drift on this shared
// machine hits both alike. Warm-up rounds (first wrangler / workerd requests) are discarded.
// Also per load: layout shift (a PerformanceObserver `layout-shift`, shifts without recent input,
// from navigation until the wasm has taken over the drawn button — `TrustPayCheckout.ready` — and
// two frames later; the baseline until two frames after its button), and when the wasm took
// over. After the loads: which Content-Encoding the widget files come with when the client
// accepts `br, gzip`. Prints one JSON object on stdout; progress goes to stderr.
import http from 'node:http';
import { chromium } from 'playwright-core';

const args = Object.fromEntries(process.argv.slice(2).reduce((pairs, a, i, all) => {
  if (a.startsWith('--')) pairs.push([a.slice(2), all[i + 1]]);
  return pairs;
}, []));
const runs = Number(args.runs ?? 25);
const warmup = Number(args.warmup ?? 2);
if (!args.widget || !args.baseline || !(runs > 0)) {
  console.error('usage: node bench/time_to_ready.mjs --widget URL --baseline URL [--runs N] [--warmup N]');
  process.exit(2);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--no-first-run', '--disable-sync', '--disable-quic'],
});
const version = browser.version();

async function load(kind, url) {
  const ctx = await browser.newContext();
  try {
    const page = await ctx.newPage();
    const cdp = await ctx.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
    await page.addInitScript(() => {
      window.__cls = 0;
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) if (!e.hadRecentInput) window.__cls += e.value;
      }).observe({ type: 'layout-shift', buffered: true });
      window.addEventListener('trustpay:ready', () => {
        if (window.__tpReadyAt !== undefined) return;
        window.__tpReadyAt = performance.now();
        window.TrustPayCheckout.ready.then(() => { window.__tpHandoverAt = performance.now(); });
      }, true);
      window.addEventListener('trustpay:error', (e) => { window.__tpError = e.detail && e.detail.code; }, true);
    });
    const response = await page.goto(url, { waitUntil: 'commit', timeout: 30000 });
    if (!response || response.status() !== 200) {
      throw new Error(`${kind}: ${url} answered ${response && response.status()}: ${response && await response.text()}`);
    }
    const widget = kind !== 'baseline';
    const key = widget ? '__tpReadyAt' : '__baselineReadyAt';
    // Wait with a bare CDP Runtime.evaluate rather than page.waitForFunction, which first
    // evaluates playwright's injected script (a large one) in the page while it is loading.
    const done = widget ? '__tpHandoverAt' : '__baselineReadyAt';
    const waited = await cdp.send('Runtime.evaluate', {
      expression: `new Promise((done) => { const t0 = Date.now(); (function poll() {
        if (window.${done} !== undefined || window.__tpError !== undefined) done('ok');
        else if (Date.now() - t0 > 20000) done('timeout');
        else setTimeout(poll, 20);
      })(); })`,
      awaitPromise: true, returnByValue: true,
    });
    if (waited.result.value !== 'ok') throw new Error(`${kind}: not ready within 20 s`);
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    return await page.evaluate((k) => {
      if (window.__tpError !== undefined) throw new Error(`widget error event: ${window.__tpError}`);
      const nav = performance.getEntriesByType('navigation')[0];
      const entry = (re) => performance.getEntriesByType('resource').find((r) => re.test(new URL(r.name).pathname));
      const js = entry(/checkout\.js$/);
      const wasm = entry(/checkout_bg\.wasm$/);
      return {
        ready: window[k], ttfb: nav.responseStart, dcl: nav.domContentLoadedEventEnd, cls: window.__cls,
        handover: window.__tpHandoverAt,
        js_start: js && js.startTime, js_end: js && js.responseEnd,
        wasm_start: wasm && wasm.startTime, wasm_end: wasm && wasm.responseEnd,
        js_url: js && js.name, wasm_url: wasm && wasm.name,
        html_end: nav.responseEnd, dom_interactive: nav.domInteractive,
      };
    }, key);
  } finally {
    await ctx.close();
  }
}

const samples = { widget: [], baseline: [], widget_static: [] };
const pages = [['widget', args.widget], ['baseline', args.baseline]];
if (args['widget-static']) pages.push(['widget_static', args['widget-static']]);
try {
  for (let round = 0; round < warmup + runs; round++) {
    // Each page goes first, second, ... in turn.
    const order = pages.map((_, i) => pages[(i + round) % pages.length]);
    for (const [kind, url] of order) {
      const s = await load(kind, url);
      if (round >= warmup) samples[kind].push(s);
    }
    if ((round + 1) % 5 === 0) console.error(`time-to-ready: ${round + 1}/${warmup + runs} rounds`);
  }
} finally {
  await browser.close();
}

// Which Content-Encoding a file comes with when the client accepts brotli and gzip.
const encoding = (url) => new Promise((done) => {
  const req = http.get(url, { headers: { 'Accept-Encoding': 'br, gzip' } }, (res) => {
    res.resume();
    done(res.statusCode === 200 ? (res.headers['content-encoding'] || 'identity') : `HTTP ${res.statusCode}`);
  });
  req.on('error', (e) => done(`error: ${e.message}`));
  req.setTimeout(5000, () => req.destroy(new Error('timeout')));
});
const first = samples.widget.find((s) => s.js_url && s.wasm_url);
const encodings = {};
if (first) {
  encodings['checkout.js'] = await encoding(first.js_url);
  encodings['checkout_bg.wasm'] = await encoding(first.wasm_url);
  if (args.locale) encodings[args.locale.split('/').pop()] = await encoding(new URL(`../locales/${args.locale}`, first.js_url).href);
}

const summary = (list) => ({
  runs: list.length,
  ready_ms: list.map((s) => s.ready),
  median_ready_ms: median(list.map((s) => s.ready)),
  median_ttfb_ms: median(list.map((s) => s.ttfb)),
  median_dcl_ms: median(list.map((s) => s.dcl)),
  median_after_ttfb_ms: median(list.map((s) => s.ready - s.ttfb)),
  median_cls: median(list.map((s) => s.cls)),
  max_cls: Math.max(...list.map((s) => s.cls)),
});
// Where the widget's time goes (resource timing, ms from navigation start; medians).
const waterfall = (list) => Object.fromEntries(['html_end', 'dom_interactive', 'js_start', 'js_end', 'wasm_start', 'wasm_end', 'handover']
  .filter((key) => list.every((s) => typeof s[key] === 'number'))
  .map((key) => [`median_${key}_ms`, median(list.map((s) => s[key]))]));
const out = {
  browser: `Chromium ${version}`,
  warmup,
  widget: { ...summary(samples.widget), ...waterfall(samples.widget) },
  baseline: summary(samples.baseline),
  encodings,
};
out.ratio = out.widget.median_ready_ms / out.baseline.median_ready_ms;
if (samples.widget_static.length) {
  out.widget_static = { ...summary(samples.widget_static), ...waterfall(samples.widget_static) };
  out.ratio_static = out.widget_static.median_ready_ms / out.baseline.median_ready_ms;
}
console.log(JSON.stringify(out));
