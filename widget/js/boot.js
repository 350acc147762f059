// Boot glue, appended after element.js to wasm-bindgen's `--target no-modules` output; the
// build wraps the whole file in one IIFE, so nothing but `TrustPayCheckout` becomes global.
// Finds its own <script>, loads checkout_bg.wasm from next to it (integrity-checked, retried
// once), defines <trustpay-checkout>, auto-mounts from data-* attributes. If wasm can't load
// (offline, CSP without 'wasm-unsafe-eval'), shows a short localized message instead and
// dispatches `trustpay:error` with code `load_failed`. No eval, no inline styles.
var script = document.currentScript;
var src = (script && script.src) || '';
var WASM_SRI = '__TP_WASM_SRI__';
var loading = null;

function load() {
  if (!loading) {
    var url = src.replace(/\.js(?=$|[?#])/, '_bg.wasm');
    var get = function (u) {
      var init = { credentials: 'omit' };
      if (WASM_SRI.indexOf('sha') === 0) init.integrity = WASM_SRI;
      return wasm_bindgen({ module_or_path: fetch(u, init) });
    };
    loading = get(url).catch(function () {
      return get(url + (url.indexOf('?') < 0 ? '?' : '&') + 'retry=1');
    });
  }
  return loading;
}

var FAILED = {
  en: "Payment couldn't load. Check your connection and reload the page.",
  'zh-CN': '支付组件加载失败，请检查网络后刷新页面。',
  'zh-TW': '付款元件無法載入，請檢查網路後重新整理頁面。',
  es: 'No se pudo cargar el pago. Revisa tu conexión y recarga la página.',
  fr: 'Le paiement n’a pas pu se charger. Vérifiez votre connexion et rechargez la page.',
  de: 'Die Zahlung konnte nicht geladen werden. Prüfen Sie Ihre Verbindung und laden Sie die Seite neu.',
  pt: 'Não foi possível carregar o pagamento. Verifique sua conexão e recarregue a página.',
  ja: '決済を読み込めませんでした。接続を確認してページを再読み込みしてください。',
  ko: '결제를 불러오지 못했습니다. 연결을 확인하고 페이지를 새로고침해 주세요.',
  hi: 'भुगतान लोड नहीं हो सका। अपना कनेक्शन जाँचें और पेज फिर से लोड करें।',
  ar: 'تعذّر تحميل الدفع. تحقق من اتصالك وأعد تحميل الصفحة.',
  ru: 'Не удалось загрузить оплату. Проверьте подключение и перезагрузите страницу.',
  id: 'Pembayaran gagal dimuat. Periksa koneksi Anda dan muat ulang halaman.',
  tr: 'Ödeme yüklenemedi. Bağlantınızı kontrol edip sayfayı yenileyin.',
  vi: 'Không tải được thanh toán. Vui lòng kiểm tra kết nối và tải lại trang.'
};

function failedText(pref) {
  var langs = [pref].concat(navigator.languages || [navigator.language]);
  for (var i = 0; i < langs.length; i++) {
    var l = String(langs[i] || '').toLowerCase();
    if (!l || l === 'auto') continue;
    if (l.indexOf('zh') === 0) return FAILED[/^zh-(tw|hk|mo|hant)/.test(l) ? 'zh-TW' : 'zh-CN'];
    var t = FAILED[l.split(/[-_]/)[0]];
    if (t) return t;
  }
  return FAILED.en;
}

function fallback(el, pref) {
  if (!el) return;
  var p = document.createElement('p');
  p.setAttribute('role', 'alert');
  p.textContent = failedText(pref);
  el.replaceChildren(p);
  el.dispatchEvent(new CustomEvent('trustpay:error', {
    bubbles: true, composed: true, detail: { type: 'error', state: 'error', code: 'load_failed' }
  }));
}

function target(t) { return typeof t === 'string' ? document.querySelector(t) : t; }

// TrustPayCheckout.mount(): returns a handle at once; calls are forwarded once wasm is in.
function mount(t, opts) {
  var real = null, dead = false, queued = [];
  var h = {
    on: function (e, f) { if (real) real.on(e, f); else queued.push([e, f]); return h; },
    destroy: function () { dead = true; if (real) real.destroy(); },
    get state() { return real ? real.state : dead ? 'destroyed' : 'loading'; }
  };
  h.ready = load().then(function () {
    if (dead) return h;
    real = wasm_bindgen.mount(t, opts || {});
    queued.forEach(function (q) { real.on(q[0], q[1]); });
    queued = [];
    return h;
  }, function (err) {
    fallback(target(t), opts && opts.locale);
    throw err;
  });
  h.ready.catch(function () {});
  return h;
}

var api = window.TrustPayCheckout;
if (!api) {
  api = window.TrustPayCheckout = { mount: mount, version: '' };
  api.ready = load().then(function () {
    var edge = (script && script.getAttribute('data-edge')) || (src ? new URL(src).origin : '');
    wasm_bindgen.setDefaultEdge(edge);
    api.version = wasm_bindgen.version();
    defineElement(wasm_bindgen.mountElement);
    // An async tag in <head> can finish before data-target exists: wait for the DOM.
    return new Promise(function (done) {
      if (document.readyState !== 'loading') done();
      else document.addEventListener('DOMContentLoaded', function () { done(); }, { once: true });
    }).then(function () {
      api.handle = script ? wasm_bindgen.autoMount(script) : undefined;
      return api;
    });
  }, function (err) {
    var sel = script && script.getAttribute('data-target');
    if (sel) fallback(document.querySelector(sel), script.getAttribute('data-locale'));
    var els = document.querySelectorAll('trustpay-checkout');
    for (var i = 0; i < els.length; i++) fallback(els[i], els[i].getAttribute('locale'));
    throw err;
  });
  api.ready.catch(function () {});
}
