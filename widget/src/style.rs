//! The widget's stylesheet. `cargo xtask size` copies [`CSS`] into `checkout.js`: the boot glue
//! constructs one stylesheet from it, draws the first pay button with it before the wasm has
//! arrived, and hands it to the wasm (`setStyles`), which adopts the same sheet in every widget,
//! so the hand-over changes no pixel and the CSS text is not in the wasm too.

/// The widget's stylesheet. Documented custom properties (set them on the host element):
/// `--tp-color-text`, `--tp-color-background`, `--tp-color-primary`, `--tp-color-on-primary`,
/// `--tp-color-success`, `--tp-color-danger`, `--tp-color-focus`, `--tp-color-link`, `--tp-radius`,
/// `--tp-font-family`, `--tp-font-size`. Defaults meet WCAG AA in light and dark.
pub const CSS: &str = "\
:host{display:block}\
.tp{--_fg:var(--tp-color-text,#1b1b1f);--_bg:var(--tp-color-background,#fff);--_ac:var(--tp-color-primary,#0b57d0);--_ln:var(--tp-color-link,#0b57d0);\
--_on:var(--tp-color-on-primary,#fff);--_ok:var(--tp-color-success,#146c2e);--_err:var(--tp-color-danger,#b3261e);\
--_focus:var(--tp-color-focus,#0b57d0);color:var(--_fg);background:var(--_bg);\
font-family:var(--tp-font-family,system-ui,-apple-system,\"Segoe UI\",Roboto,\"Noto Sans\",sans-serif);\
font-size:var(--tp-font-size,1rem);line-height:1.5;padding:.75em;border-radius:var(--tp-radius,8px)}\
.tp[data-theme=dark]{--_fg:var(--tp-color-text,#e6e1e5);--_bg:var(--tp-color-background,#1c1b1f);--_ac:var(--tp-color-primary,#a8c7fa);--_ln:var(--tp-color-link,#a8c7fa);\
--_on:var(--tp-color-on-primary,#062e6f);--_ok:var(--tp-color-success,#6dd58c);--_err:var(--tp-color-danger,#ffb4ab);--_focus:var(--tp-color-focus,#a8c7fa)}\
@media (prefers-color-scheme:dark){.tp[data-theme=auto]{--_fg:var(--tp-color-text,#e6e1e5);--_bg:var(--tp-color-background,#1c1b1f);\
--_ac:var(--tp-color-primary,#a8c7fa);--_ln:var(--tp-color-link,#a8c7fa);--_on:var(--tp-color-on-primary,#062e6f);--_ok:var(--tp-color-success,#6dd58c);\
--_err:var(--tp-color-danger,#ffb4ab);--_focus:var(--tp-color-focus,#a8c7fa)}}\
button{font:inherit;font-weight:600;min-height:44px;min-width:44px;padding:.6em 1.4em;border:0;cursor:pointer;\
border-radius:var(--tp-radius,8px);background:var(--_ac);color:var(--_on);transition:opacity .2s}\
button[aria-disabled=true]{opacity:.7;cursor:progress}\
button:focus-visible,a:focus-visible{outline:3px solid var(--_focus);outline-offset:2px}\
a{color:var(--_ln);display:inline-block;margin-top:.5em}\
p{margin:.5em 0 0}p:empty{margin:0}\
.tp[data-tone=success] p{color:var(--_ok);font-weight:600}.tp[data-tone=error] p{color:var(--_err)}\
[hidden]{display:none!important}\
@media (prefers-reduced-motion:reduce){*{transition:none!important;animation:none!important}}";
