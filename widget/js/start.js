// The first lines of checkout.js (the build puts this file before wasm-bindgen's glue): start
// fetching and compiling checkout_bg.wasm at once, in parallel with the rest of this script's
// evaluation and with the page. The fetch is integrity-checked against the sha384 the build
// bakes in, retried once, and uses the default credentials mode so that a merchant's
// `<link rel="preload" href=".../checkout_bg.wasm" as="fetch" crossorigin>` is reused.
var script = document.currentScript;
var src = (script && script.src) || '';
var WASM_SRI = '__TP_WASM_SRI__';

function compileWasm(u) {
  var init = {};
  if (WASM_SRI.indexOf('sha') === 0) init.integrity = WASM_SRI;
  return fetch(u, init).then(function (r) {
    if (!r.ok) throw new Error('checkout_bg.wasm: HTTP ' + r.status);
    // compileStreaming needs application/wasm; any other type is compiled from the bytes.
    return WebAssembly.compileStreaming && r.headers.get('Content-Type') === 'application/wasm'
      ? WebAssembly.compileStreaming(r)
      : r.arrayBuffer().then(WebAssembly.compile);
  });
}

var wasmUrl = src.replace(/\.js(?=$|[?#])/, '_bg.wasm');
var compiled = src
  ? compileWasm(wasmUrl).catch(function () {
    return compileWasm(wasmUrl + (wasmUrl.indexOf('?') < 0 ? '?' : '&') + 'retry=1');
  })
  : Promise.reject(new Error('checkout.js: no script src to find checkout_bg.wasm from'));
compiled.catch(function () {});
