// The custom-checkout demo: TrustPayCheckout.mount() with a theme, a locale switcher and an
// intent fetched from the merchant backend only when the shopper clicks pay.
(function () {
  "use strict";
  var edge = document.currentScript.dataset.edge;
  var handle = null;
  var log = document.getElementById("event-log");
  // ?locale=ar&theme=dark&mode=redirect preselect the controls (links, tests, screenshots).
  var params = new URLSearchParams(window.location.search);
  var mode = params.get("mode") === "redirect" ? "redirect" : "popup";
  ["locale", "theme"].forEach(function (name) {
    var select = document.getElementById(name);
    var wanted = params.get(name);
    if (wanted && Array.prototype.some.call(select.options, function (o) { return o.value === wanted; })) {
      select.value = wanted;
    }
  });

  function fetchIntent() {
    return fetch("/api/intent", { method: "POST" })
      .then(function (r) { if (!r.ok) { throw new Error("intent " + r.status); } return r.json(); })
      .then(function (body) { return body.intent; });
  }

  function mount() {
    if (handle) { handle.destroy(); }
    handle = window.TrustPayCheckout.mount("#pay", {
      edge: edge,
      fetchIntent: fetchIntent,
      locale: document.getElementById("locale").value,
      theme: document.getElementById("theme").value,
      mode: mode,
      onEvent: function (e) {
        log.textContent = "Last event: " + e.type + (e.status ? " (" + e.status + ")" : "") + (e.code ? " [" + e.code + "]" : "");
      }
    });
  }

  document.getElementById("locale").addEventListener("change", mount);
  document.getElementById("theme").addEventListener("change", mount);
  mount();
})();
