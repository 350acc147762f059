// Boot glue, appended after element.js to wasm-bindgen's `--target no-modules` output (and
// start.js before it, which has already started the wasm fetch); the build wraps the whole file
// in one IIFE, so nothing but `TrustPayCheckout` becomes global.
//
// First paint: every mount (script tag, `TrustPayCheckout.mount`, `<trustpay-checkout>`) draws
// the pay button at once, from here, in the shopper's language, with the widget's own
// stylesheet, and announces `ready`; a click on it before the wasm arrives is remembered
// (`data-queued`) and becomes the wasm's first event, once. The wasm then takes over the same
// elements (`dom.rs`, `data-early`).
//
// Languages: English is built in; any other locale is one small immutable file
// (`../locales/<tag>.<hash>.txt`) named in LOCALES with its sha256, fetched on demand with
// `integrity` and handed to the wasm with the mount (`texts`). If that fetch fails (or the wasm
// refuses the table) the widget shows English, with `lang="en"` and `dir="ltr"`.
//
// If wasm can't load (offline, CSP without 'wasm-unsafe-eval'), the button gives way to a short
// localized message and `trustpay:error` with code `load_failed`. No eval, no inline styles.
var CSS = __TP_CSS__;
// tag → the file's sha256 (base64url): its name, `<tag>.<hash>.txt`, and its integrity check.
var LOCALES = __TP_LOCALES__;
// Entries of a locale table the glue itself shows: [pay {amount}, pay now, couldn't load].
var PICK = __TP_PICK__;
var EN = __TP_EN__;
// tag → [decimal, group, flags (1: groups of two, Hindi; 2: no group in four digits, Spanish),
// then before and after the number for each of CUR]: `amount.rs`'s table; the wasm writes its
// amounts with `money` too (handed over at mount).
var MONEY = __TP_MONEY__;
var CUR = __TP_CUR__;
var VERSION = __TP_VERSION__;
var EVENTS = ['ready', 'state', 'error', 'redirect', 'close'];
var loading = null;
var loaded = false;
var tables = {};
var sheet = null;

// One constructed stylesheet for every widget on the page (the wasm adopts it too).
function styles() {
  if (!sheet) {
    sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
  }
  return sheet;
}

var api = window.TrustPayCheckout;
// The edge for mounts that name none: the script's data-edge, else where it was loaded from.
var defaultEdge = (script && script.getAttribute('data-edge')) || (src ? new URL(src).origin : '');

function load() {
  if (!loading) {
    loading = compiled.then(function (module) {
      return wasm_bindgen({ module_or_path: module });
    }).then(function () {
      api.version = VERSION;
      loaded = true;
    });
  }
  return loading;
}

// The same rules as `negotiate.rs`: exact tag → Chinese script/region → language → English.
function matchTag(tag) {
  var parts = String(tag || '').trim().toLowerCase().replace(/_/g, '-').split('-');
  var lang = parts.shift();
  if (lang === 'zh') {
    var hant = parts.some(function (p) { return /^(hant|tw|hk|mo)$/.test(p); });
    return hant && parts.indexOf('hans') < 0 ? 'zh-TW' : 'zh-CN';
  }
  if (lang === 'pt') return 'pt-BR';
  if (lang === 'in') return 'id';
  return lang === 'en' || LOCALES[lang] ? lang : null;
}

function resolve(option) {
  var opt = String(option || '').trim();
  var langs = (opt && opt !== 'auto' ? [opt] : []).concat(navigator.languages || [navigator.language]);
  for (var i = 0; i < langs.length; i++) {
    var tag = matchTag(langs[i]);
    if (tag) return tag;
  }
  return 'en';
}

// The locale's table text, or null (English): fetched once per page, checked against its hash.
function table(tag) {
  var hash = LOCALES[tag];
  if (!hash || !src) return Promise.resolve(null);
  if (!tables[tag]) {
    var file = new URL('../locales/' + tag + '.' + hash + '.txt', src).href;
    var sri = 'sha256-' + hash.replace(/-/g, '+').replace(/_/g, '/') + '=';
    tables[tag] = fetch(file, { integrity: sri })
      .then(function (r) {
        if (!r.ok) throw new Error('locale ' + tag + ': HTTP ' + r.status);
        return r.text();
      })
      .catch(function () { return null; });
  }
  return tables[tag];
}

function pick(text) {
  if (!text) return EN;
  var all = text.split('\u001f');
  return PICK.map(function (i) { return all[i]; });
}

// Minor units of `cur` as `tag` writes them, exactly as `amount.rs` does (no `Intl`: its first
// use costs the page 12-40 ms); null for a currency the gateway doesn't take.
function money(tag, minor, cur) {
  var f = MONEY[tag], c = CUR.indexOf(cur);
  if (!f || c < 0) return null;
  var whole = String(Math.floor(minor / 100)), n = whole.length, out = '';
  for (var k = 0; k < n; k++) {
    var left = n - k;
    if (k && n >= (f[2] & 2 ? 5 : 4) && (left === 3 || (left > 3 && (left - 3) % (f[2] & 1 ? 2 : 3) === 0))) out += f[1];
    out += whole[k];
  }
  return f[3 + 2 * c] + out + f[0] + String(100 + minor % 100).slice(1) + f[4 + 2 * c];
}

// The amount inside an intent, for the label only (`v1.<base64url payload>.<mac>`).
function amount(tag, intent) {
  try {
    var p = JSON.parse(atob(String(intent).split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
    var m = /^(\d+)(?:\.(\d\d?))?$/.exec(p.amount);
    return m ? money(tag, Number(m[1]) * 100 + Number(((m[2] || '') + '00').slice(0, 2)), p.currency) : null;
  } catch (e) {
    return null;
  }
}

function make(tag, attrs) {
  var el = document.createElement(tag);
  for (var k in attrs) el.setAttribute(k, attrs[k]);
  return el;
}

function emit(host, type, extra) {
  var detail = { type: type, state: type === 'ready' ? 'idle' : 'error' };
  for (var k in extra) detail[k] = extra[k];
  host.dispatchEvent(new CustomEvent('trustpay:' + type, { bubbles: true, composed: true, detail: detail }));
}

// Draws what `dom.rs` draws for the idle state; null when the host already shows something.
function draw(host, tag, texts, theme, intent) {
  var shadow = host.shadowRoot || host.attachShadow({ mode: 'open' });
  if (shadow.firstChild) return null;
  shadow.adoptedStyleSheets = [styles()];
  var root = make('div', {
    class: 'tp', part: 'root', lang: tag, dir: tag === 'ar' ? 'rtl' : 'ltr',
    'data-theme': theme === 'light' || theme === 'dark' ? theme : 'auto',
    'data-tone': 'info', 'aria-busy': 'false', 'data-early': ''
  });
  var button = make('button', { type: 'button', part: 'button', 'aria-disabled': 'false' });
  var money = intent && amount(tag, intent);
  // The amount isolated (FSI … PDI), as `dom.rs` does, so RTL text reads it as one unit.
  button.textContent = money ? texts[0].replace('{amount}', '\u2068' + money + '\u2069') : texts[1];
  var click = function () {
    button.setAttribute('data-queued', '');
    button.setAttribute('aria-disabled', 'true');
  };
  button.addEventListener('click', click);
  root.append(button,
    make('p', { role: 'status', 'aria-live': 'polite', part: 'status', tabindex: '-1' }),
    make('a', { target: '_blank', rel: 'noopener', part: 'reopen', hidden: '' }));
  shadow.append(root);
  return {
    handOver: function () { button.removeEventListener('click', click); },
    remove: function () { root.remove(); shadow.adoptedStyleSheets = []; }
  };
}

function fallback(host, texts) {
  if (!host) return;
  var p = make('p', { role: 'alert' });
  p.textContent = texts[2];
  (host.shadowRoot || host).replaceChildren(p);
  emit(host, 'error', { code: 'load_failed' });
}

// One mount, whichever way it was asked for (`o`: edge, intent | fetchIntent, locale, mode,
// theme, messages, onEvent): draws at once, hands over to the wasm once the wasm and the
// shopper's locale are in. The handle works from the start.
function start(host, o, selector) {
  var real = null, dead = false, early = null, subs = [];
  var h = {
    on: function (e, f) {
      if (EVENTS.indexOf(e) < 0) throw new Error('unknown event `' + e + '`; events: ' + EVENTS.join(', '));
      var l = function (ev) { f(ev.detail); };
      if (host && !dead) { host.addEventListener('trustpay:' + e, l); subs.push([e, l]); }
      return h;
    },
    destroy: function () {
      if (dead) return;
      dead = true;
      subs.forEach(function (s) { host.removeEventListener('trustpay:' + s[0], s[1]); });
      if (real) wasm_bindgen.destroy(real);
      else if (early) early.remove();
    },
    get state() { return real ? wasm_bindgen.state(real) : dead ? 'destroyed' : early ? 'idle' : 'loading'; }
  };
  if (typeof o.onEvent === 'function') EVENTS.forEach(function (e) { h.on(e, o.onEvent); });
  var tag = resolve(o.locale);
  var text = table(tag);
  var drawn = text.then(function (t) {
    if (dead || loaded || !host) return;
    early = draw(host, t ? tag : 'en', pick(t), o.theme, o.intent);
    // After the caller got its handle (this runs in a later microtask), like the wasm's own.
    if (early) emit(host, 'ready');
  });
  h.ready = Promise.all([load(), text, drawn]).then(function (r) {
    if (dead) return h;
    if (!host) {
      throw new Error(selector ? 'TrustPayCheckout.mount: no element matches `' + selector + '`'
        : 'TrustPayCheckout.mount: target must be an element or a selector');
    }
    // The locale's table goes with the mount; the wasm checks it and shows English if it
    // doesn't fit (or none came).
    real = wasm_bindgen.mount(host, {
      edge: (o.edge && String(o.edge).trim()) || defaultEdge, intent: o.intent, fetchIntent: o.fetchIntent,
      locale: tag, texts: r[1], mode: o.mode, theme: o.theme,
      // A copy (the wasm reads it as it shows texts), without inherited keys.
      messages: o.messages && typeof o.messages === 'object' ? Object.assign(Object.create(null), o.messages) : null,
      // The wasm writes amounts with this (`amount.rs`'s table), not with code of its own.
      money: money, sheet: styles()
    });
    if (early) early.handOver();
    return h;
  }, function (err) {
    if (!dead) text.then(function (t) { fallback(host, pick(t)); });
    throw err;
  });
  h.ready.catch(function () {});
  return h;
}

// The attributes a script tag (`data-` prefix) or `<trustpay-checkout>` mounts with.
function attrs(el, prefix) {
  var o = {};
  ['edge', 'intent', 'locale', 'mode', 'theme'].forEach(function (n) { o[n] = el.getAttribute(prefix + n); });
  return o;
}

// TrustPayCheckout.mount(): returns a handle at once.
function mount(t, opts) {
  var host = typeof t === 'string' ? document.querySelector(t) : t instanceof Element ? t : null;
  return start(host, opts || {}, typeof t === 'string' ? t : null);
}

function mountElement(el) {
  return start(el, attrs(el, ''));
}

if (!api) {
  api = window.TrustPayCheckout = { mount: mount, version: '' };
  defineElement(mountElement);
  // Mount at once when data-target is in the document already (the tag at the end of <body>,
  // or an async tag that arrives after the parser got there): DOMContentLoaded can come tens
  // of ms later. An async tag in <head> can run before data-target exists: then wait for it.
  var sel = script && script.getAttribute('data-target');
  var found = function () { return sel ? document.querySelector(sel) : null; };
  api.ready = (found() ? Promise.resolve() : new Promise(function (done) {
    if (document.readyState !== 'loading') done();
    else document.addEventListener('DOMContentLoaded', function () { done(); }, { once: true });
  })).then(function () {
    var host = found();
    if (!host) return load();
    api.handle = start(host, attrs(script, 'data-'));
    return api.handle.ready;
  }).then(function () { return api; });
  api.ready.catch(function () {});
}
