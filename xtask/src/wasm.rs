//! Building the widget merchants load: cargo → wasm-bindgen `--target no-modules` → wasm-opt
//! → one `checkout.js` (bindgen glue, its loader trimmed, + `widget/js/element.js` + `widget/js/boot.js`, wrapped in
//! one IIFE, minified) next to `checkout_bg.wasm`. Shared by `size` (release, optimised) and
//! `dev` (debug, fast).
//!
//! Why `no-modules`: the embed is one classic tag, `<script src=".../checkout.js" data-…
//! async>`. `--target web` is an ES module, which needs `type="module"`, has no
//! `document.currentScript` (the boot glue reads its `data-*` attributes and finds the wasm
//! next to itself through it) and exports instead of defining `TrustPayCheckout`.
//!
//! Output (`www/pkg` is the dist root, so a static server or Workers assets serve it as is):
//! `www/pkg/widget/v1/` (the moving major-version path) and `www/pkg/widget/<version>/` (the
//! immutable path to pin with SRI). The wasm's sha384 is baked into checkout.js and checked by
//! `fetch(..., {integrity})`, so one SRI hash on the script tag covers both files. Every locale
//! but English is a file of its own, `www/pkg/widget/locales/<tag>.<hash>.txt` (immutable,
//! content-addressed), named with its sha384 in a manifest inside checkout.js, which fetches the
//! shopper's one on demand.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use sha2::{Digest as _, Sha256, Sha384};

use widget::i18n::{Locale, Phrase};

use crate::env::{self, Env};

/// Which cargo profile to build the widget with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Profile {
    Debug,
    Release,
}

/// The files a page loads (under `www/pkg/widget/v1/`).
#[derive(Debug)]
pub(crate) struct WidgetPkg {
    pub(crate) js: PathBuf,
    pub(crate) wasm: PathBuf,
    /// Each on-demand locale's tag and file (`www/pkg/widget/locales/`).
    pub(crate) locales: Vec<(&'static str, PathBuf)>,
}

/// `sha384-<base64>`, the Subresource Integrity form.
pub(crate) fn sri(bytes: &[u8]) -> String {
    format!(
        "sha384-{}",
        base64::engine::general_purpose::STANDARD.encode(Sha384::digest(bytes))
    )
}

/// The widget crate's version (`widget/Cargo.toml`), for the immutable path.
fn widget_version(env: &Env) -> Result<String> {
    let manifest = std::fs::read_to_string(env.root.join("widget").join("Cargo.toml"))
        .context("reading widget/Cargo.toml")?;
    manifest
        .lines()
        .find_map(|line| {
            line.strip_prefix("version = \"")?
                .strip_suffix('"')
                .map(str::to_owned)
        })
        .context("no `version = \"..\"` in widget/Cargo.toml")
}

/// One locale file served on demand: `www/pkg/widget/locales/<file>`.
#[derive(Debug, Clone)]
pub(crate) struct LocaleFile {
    pub(crate) tag: &'static str,
    /// `<tag>.<its sha256, base64url>.txt`: a new text is a new name, and the name is the
    /// integrity check too (the glue turns it into `sha256-…` for `fetch`).
    pub(crate) file: String,
    /// The base64url sha256 in the name (the manifest's value for `tag`).
    pub(crate) hash: String,
    pub(crate) bytes: Vec<u8>,
}

/// Every locale but English (which the wasm and the glue carry), as the files the glue fetches:
/// the exact table the wasm would have compiled in ([`Locale::table`]).
pub(crate) fn locale_files() -> Vec<LocaleFile> {
    Locale::ALL
        .into_iter()
        .filter(|l| *l != Locale::En)
        .map(|locale| {
            let bytes = locale.table().as_bytes().to_vec();
            let hash =
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(&bytes));
            LocaleFile {
                tag: locale.tag(),
                file: format!("{}.{hash}.txt", locale.tag()),
                hash,
                bytes,
            }
        })
        .collect()
}

/// The glue's constants (see `widget/js/boot.js`): the stylesheet, the locale manifest
/// (`tag → base64url sha256`, which names the file and checks it), which table entries it
/// shows itself, those in English, how each locale writes money (`widget::amount`), and the
/// widget's version.
fn glue_constants(locales: &[LocaleFile]) -> Vec<(&'static str, String)> {
    let manifest: serde_json::Map<String, serde_json::Value> = locales
        .iter()
        .map(|l| (l.tag.to_owned(), serde_json::json!(l.hash)))
        .collect();
    let pick = [Phrase::PayAmount, Phrase::PayNow, Phrase::LoadFailed];
    let en: Vec<&str> = pick.iter().map(|p| Locale::En.phrase_text(*p)).collect();
    let indices: Vec<usize> = pick.iter().map(|p| *p as usize).collect();
    let money: serde_json::Map<String, serde_json::Value> = Locale::ALL
        .into_iter()
        .map(|locale| {
            let s = widget::amount::style(locale);
            let flags = u8::from(s.indian) | (u8::from(s.min_two) << 1);
            let mut row = vec![
                serde_json::json!(s.decimal),
                serde_json::json!(s.group),
                serde_json::json!(flags),
            ];
            for (before, after) in s.affixes {
                row.extend([serde_json::json!(before), serde_json::json!(after)]);
            }
            (locale.tag().to_owned(), serde_json::Value::Array(row))
        })
        .collect();
    vec![
        (
            "__TP_CSS__",
            serde_json::json!(widget::style::CSS).to_string(),
        ),
        (
            "__TP_LOCALES__",
            serde_json::Value::Object(manifest).to_string(),
        ),
        ("__TP_PICK__", serde_json::json!(indices).to_string()),
        ("__TP_EN__", serde_json::json!(en).to_string()),
        ("__TP_MONEY__", serde_json::Value::Object(money).to_string()),
        (
            "__TP_CUR__",
            serde_json::json!(widget::amount::CURRENCIES).to_string(),
        ),
        (
            "__TP_VERSION__",
            serde_json::json!(widget::VERSION).to_string(),
        ),
    ]
}

/// start.js + the bindgen glue + our JS glue as one classic script with one IIFE around it, so
/// only `window.TrustPayCheckout` becomes global.
fn bundle_js(
    env: &Env,
    bindgen_js: &str,
    wasm_sri: &str,
    locales: &[LocaleFile],
) -> Result<String> {
    let js_dir = env.root.join("widget").join("js");
    let read = |name: &str| {
        std::fs::read_to_string(js_dir.join(name))
            .with_context(|| format!("reading widget/js/{name}"))
    };
    let element = read("element.js")?;
    let mut start = read("start.js")?;
    let mut boot = read("boot.js")?;
    if !start.contains("'__TP_WASM_SRI__'") {
        bail!("widget/js/start.js lost its __TP_WASM_SRI__ placeholder");
    }
    start = start.replace("__TP_WASM_SRI__", wasm_sri);
    for (placeholder, value) in glue_constants(locales) {
        if boot.matches(placeholder).count() != 1 {
            bail!("widget/js/boot.js must spell {placeholder} once");
        }
        boot = boot.replace(placeholder, &value);
    }
    // element.js is an ES module for the browser tests; as part of a classic script it must not export.
    let element = element.replace("export function ", "function ");
    let bindgen_js = trim_bindgen_init(bindgen_js)?;
    Ok(format!(
        "/*! TrustPay checkout {version} */\n(function () {{\n\"use strict\";\n{start}\n{bindgen_js}\n{element}\n{boot}\n}})();\n",
        version = widget_version(env)?,
    ))
}

/// wasm-bindgen's loader, cut to what `boot.js` calls: `wasm_bindgen({ module_or_path })` with
/// the `WebAssembly.Module` that `start.js` compiled. Its paths for a URL, a `Response`,
/// `initSync` and the default module path are dead code in this bundle (−569 B gzip, and
/// less for the browser to parse before it draws the button). The glue's text is pinned by the
/// exact wasm-bindgen version; a change to it fails the build here rather than slipping by.
fn trim_bindgen_init(glue: &str) -> Result<String> {
    const SCRIPT_SRC: &str = "    let script_src;\n    if (typeof document !== 'undefined' && document.currentScript !== null) {\n        script_src = new URL(document.currentScript.src, location.href).toString();\n    }\n";
    const LOAD: &str = "    async function __wbg_load(module, imports) {";
    const END: &str = "    return Object.assign(__wbg_init, { initSync }, exports);";
    const INIT: &str = "    async function __wbg_init(options) {\n        if (wasm !== undefined) return wasm;\n        const module = options.module_or_path;\n        const instance = await WebAssembly.instantiate(module, __wbg_get_imports());\n        return __wbg_finalize_init(instance, module);\n    }\n\n    return Object.assign(__wbg_init, exports);";
    let (Some(load), Some(end)) = (glue.find(LOAD), glue.find(END)) else {
        bail!(
            "the wasm-bindgen glue's loader changed: update trim_bindgen_init in xtask/src/wasm.rs"
        );
    };
    if !glue.contains(SCRIPT_SRC) || load > end {
        bail!(
            "the wasm-bindgen glue's loader changed: update trim_bindgen_init in xtask/src/wasm.rs"
        );
    }
    let trimmed =
        format!("{}{INIT}{}", &glue[..load], &glue[end + END.len()..]).replacen(SCRIPT_SRC, "", 1);
    if trimmed.contains("script_src") || trimmed.contains("initSync") {
        bail!("the wasm-bindgen glue still uses what trim_bindgen_init removed: update it");
    }
    Ok(trimmed)
}

/// Builds `www/pkg/widget/{v1,<version>}/checkout.js` + `checkout_bg.wasm`; `optimize` runs
/// `wasm-opt -Os` on the wasm, shortens its import/export names and minifies the JS (esbuild, pinned through wrangler).
pub(crate) fn build_widget_pkg(env: &Env, profile: Profile, optimize: bool) -> Result<WidgetPkg> {
    let mut cargo = env.cargo();
    match profile {
        Profile::Debug => {
            cargo.args([
                "build",
                "-p",
                "widget",
                "--target",
                "wasm32-unknown-unknown",
            ]);
        }
        // `cargo rustc`: the extra flag reaches only the widget crate's own rustc, the one that
        // runs the whole-program (fat LTO) optimisation, so its dependencies (shared with the
        // edge's wasm build) keep their cached artifacts. LLVM's inliner at opt-level "z"
        // inlines up to a cost of 5; 10 measured −202 B gzip of wasm (8 the same, 15 −112,
        // 25 and 40 larger than 5).
        Profile::Release => {
            cargo.args([
                "rustc",
                "-p",
                "widget",
                "--lib",
                "--target",
                "wasm32-unknown-unknown",
                "--release",
                "--",
                "-Cllvm-args=-inline-threshold=10",
            ]);
        }
    }
    env::run(&mut cargo)?;

    let dir = match profile {
        Profile::Debug => "debug",
        Profile::Release => "release",
    };
    let input = env.wasm_artifact(dir, "widget.wasm");
    // Intermediate output stays in target/; only the finished files go to www/pkg.
    let work = env.target_dir.join("widget-bindgen").join(dir);
    if work.exists() {
        std::fs::remove_dir_all(&work).with_context(|| format!("removing {}", work.display()))?;
    }
    env::run(
        env.command("wasm-bindgen")
            .args([
                "--target",
                "no-modules",
                "--no-typescript",
                // TextEncoder.encodeInto is everywhere we support; boot.js always passes the
                // wasm URL, so the default-path code is dead weight.
                "--encode-into",
                "always",
                "--omit-default-module-path",
                "--out-name",
                "checkout",
                "--out-dir",
            ])
            .arg(&work)
            .arg(&input),
    )?;
    let bindgen_js = work.join("checkout.js");
    let mut wasm = work.join("checkout_bg.wasm");
    for file in [&bindgen_js, &wasm] {
        if !file.is_file() {
            bail!(
                "wasm-bindgen did not produce {}",
                env::rel(env, file).to_string_lossy()
            );
        }
    }

    if optimize {
        // Panics trap at once, and the formatting only they ran goes (see wasm_panic.rs).
        let bytes = std::fs::read(&wasm).with_context(|| format!("reading {}", wasm.display()))?;
        let trapped =
            crate::wasm_panic::trap_panics(&bytes).context("trapping the widget's panics")?;
        println!(
            "  panics trap: {} functions only a panic reaches are `unreachable`",
            trapped.functions
        );
        wasm = work.join("checkout_bg.trap.wasm");
        write(&wasm, &trapped.wasm)?;
        let optimized = work.join("checkout_bg.opt.wasm");
        // npm binaryen 132: Debian's and crates.io's wasm-opt are too old for rustc 1.95 output.
        env::run(
            env.command(&env.npm_bin("wasm-opt").to_string_lossy())
                // Measured (gzip -9 of the wasm): --low-memory-unused (addresses below 1024
                // are never data: rustc puts the 1 MiB stack first, growing down towards 0)
                // lets loads/stores fold constant offsets, −270 B; with it, -Os compresses
                // better than -Oz (larger raw, −40 B more). Inlining a function into its only
                // caller only while it is at most 200 bytes (binaryen's default: any size)
                // −436 B (100 and 300: a little less); then flattening, re-relooping the
                // control flow and -Os again −405 B more. -O3/-O4, --gufa, cargo's
                // opt-level "s" (+2.3 KB) and --merge-similar-functions measured worse.
                .arg("-Os")
                .arg("--converge")
                .arg("--low-memory-unused")
                .arg("--one-caller-inline-max-function-size=200")
                .arg("--flatten")
                .arg("--rereloop")
                .arg("-Os")
                .arg("--strip-producers")
                .arg("--strip-target-features")
                .arg(&wasm)
                .arg("-o")
                .arg(&optimized),
        )?;
        wasm = optimized;
    }
    let mut wasm_bytes =
        std::fs::read(&wasm).with_context(|| format!("reading {}", wasm.display()))?;
    let mut bindgen_js =
        std::fs::read_to_string(&bindgen_js).context("reading the bindgen glue")?;
    if optimize {
        (wasm_bytes, bindgen_js) = crate::wasm_names::shorten_imports(&wasm_bytes, &bindgen_js)
            .context("shortening the wasm import names")?;
    }
    let wasm_sri = sri(&wasm_bytes);
    let locales = locale_files();

    let bundle = bundle_js(env, &bindgen_js, &wasm_sri, &locales)?;
    let bundle_path = work.join("checkout.bundle.js");
    std::fs::write(&bundle_path, &bundle).context("writing the JS bundle")?;
    let js_bytes = if optimize {
        let minified = work.join("checkout.min.js");
        env::run(
            env.command(&env.npm_bin("esbuild").to_string_lossy())
                .args(["--minify", "--legal-comments=inline", "--log-level=warning"])
                .arg(&bundle_path)
                .arg(format!("--outfile={}", minified.display())),
        )?;
        std::fs::read(&minified).context("reading the minified bundle")?
    } else {
        bundle.into_bytes()
    };

    let version = widget_version(env)?;
    let dist = env.root.join("www").join("pkg");
    if dist.exists() {
        std::fs::remove_dir_all(&dist).with_context(|| format!("removing {}", dist.display()))?;
    }
    let dts = std::fs::read(env.root.join("widget").join("js").join("checkout.d.ts"))
        .context("reading widget/js/checkout.d.ts")?;
    for sub in ["v1", version.as_str()] {
        let out = dist.join("widget").join(sub);
        std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
        write(&out.join("checkout.js"), &js_bytes)?;
        write(&out.join("checkout_bg.wasm"), &wasm_bytes)?;
        write(&out.join("checkout.d.ts"), &dts)?;
    }
    // Shared by every version: a file's name changes with its text, so it never changes.
    let locale_dir = dist.join("widget").join("locales");
    std::fs::create_dir_all(&locale_dir)
        .with_context(|| format!("creating {}", locale_dir.display()))?;
    for locale in &locales {
        write(&locale_dir.join(&locale.file), &locale.bytes)?;
    }
    // Workers static assets / Pages honour `_headers`: the versioned path never changes.
    write(
        &dist.join("_headers"),
        format!(
            "/widget/{version}/*\n  Cache-Control: public, max-age=31536000, immutable\n  Access-Control-Allow-Origin: *\n\
             /widget/locales/*\n  Cache-Control: public, max-age=31536000, immutable\n  Access-Control-Allow-Origin: *\n  Content-Type: text/plain; charset=utf-8\n\
             /widget/v1/*\n  Cache-Control: public, max-age=300, stale-while-revalidate=86400\n  Access-Control-Allow-Origin: *\n"
        )
        .as_bytes(),
    )?;

    let js_sri = sri(&js_bytes);
    println!("\nwidget {version}: www/pkg/widget/{{v1,{version}}}/checkout.js + checkout_bg.wasm");
    println!("  checkout.js       {js_sri}");
    println!("  checkout_bg.wasm  {wasm_sri}  (checked by checkout.js)");
    println!(
        "  embed: <script src=\"https://EDGE/widget/{version}/checkout.js\" integrity=\"{js_sri}\" crossorigin=\"anonymous\"\n         \
         data-edge=\"https://EDGE\" data-intent=\"INTENT\" data-target=\"#pay\" async></script>"
    );

    let v1 = dist.join("widget").join("v1");
    Ok(WidgetPkg {
        js: v1.join("checkout.js"),
        wasm: v1.join("checkout_bg.wasm"),
        locales: locales
            .into_iter()
            .map(|l| (l.tag, locale_dir.join(l.file)))
            .collect(),
    })
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bindgen_loader_is_cut_to_module_instantiation() {
        let glue = "let wasm_bindgen = (function(exports) {\n    let script_src;\n    if (typeof document !== 'undefined' && document.currentScript !== null) {\n        script_src = new URL(document.currentScript.src, location.href).toString();\n    }\n    function __wbg_finalize_init(instance, module) {}\n    async function __wbg_load(module, imports) { fetch(script_src); }\n    function initSync(module) {}\n    return Object.assign(__wbg_init, { initSync }, exports);\n})({ __proto__: null });\n";
        let out = trim_bindgen_init(glue).expect("trimmed");
        assert!(out.contains("function __wbg_finalize_init"), "{out}");
        assert!(
            out.contains("WebAssembly.instantiate(module, __wbg_get_imports())"),
            "{out}"
        );
        assert!(
            out.ends_with("return Object.assign(__wbg_init, exports);\n})({ __proto__: null });\n"),
            "{out}"
        );
        assert!(
            !out.contains("script_src") && !out.contains("__wbg_load"),
            "{out}"
        );
        let changed = glue.replace("{ initSync }", "{ initSync, other }");
        assert!(trim_bindgen_init(&changed).is_err());
    }
}
