//! Shortens the wasm-bindgen import and export names in the release widget (wasm and JS glue
//! together).
//!
//! wasm-bindgen names every import `__wbg_<name>_<16 hex digits>` under the module
//! `"./checkout_bg.js"`, and each name is spelt twice: in the wasm's import section and as a key
//! of the glue's import object. ~100 imports × 2 × random hex is ~2 KB gzip of pure noise
//! (binaryen's `--minify-imports` only touches emscripten's `env` module). Exports are spelt
//! in the export section and as `wasm.<name>` in the glue (which esbuild can't shorten, they
//! are property names). Here every import and export gets a short name (`a`, `b`, … `ba`, …),
//! the module becomes `"m"`, and the glue is rewritten to match; an import key the glue
//! doesn't spell exactly once stops the build instead of producing a module that fails to link.
//! Measured (gzip -9, js + wasm): −3,570 B for the imports, −392 B more for the exports.

use anyhow::{Context as _, Result, bail};

/// The module wasm-bindgen puts every import under (`--out-name checkout`).
const MODULE: &str = "./checkout_bg.js";
/// Its short replacement.
const SHORT_MODULE: &str = "m";

/// Renames the imports of `wasm` and rewrites `js` (the bindgen glue) to match.
pub(crate) fn shorten_imports(wasm: &[u8], js: &str) -> Result<(Vec<u8>, String)> {
    if wasm.get(..8) != Some(b"\0asm\x01\0\0\0".as_slice()) {
        bail!("not a wasm module");
    }
    let mut out = wasm[..8].to_vec();
    let mut renames = Vec::new();
    let mut export_renames = Vec::new();
    let mut pos = 8;
    while pos < wasm.len() {
        let id = wasm[pos];
        let mut at = pos + 1;
        let size = leb(wasm, &mut at)? as usize;
        let body = wasm.get(at..at + size).context("truncated wasm section")?;
        if id == 2 {
            let body = rename_imports(body, &mut renames)?;
            out.push(2);
            push_leb(&mut out, body.len() as u32);
            out.extend_from_slice(&body);
        } else if id == 7 {
            let body = rename_exports(body, &mut export_renames)?;
            out.push(7);
            push_leb(&mut out, body.len() as u32);
            out.extend_from_slice(&body);
        } else {
            out.extend_from_slice(&wasm[pos..at + size]);
        }
        pos = at + size;
    }

    let mut js = replace_once(js, &format!("\"{MODULE}\""), &format!("\"{SHORT_MODULE}\""))?;
    for (old, new) in &renames {
        js = replace_once(&js, &format!("{old}:"), &format!("{new}:"))?;
    }
    for (old, new) in &export_renames {
        js = replace_word(&js, &format!("wasm.{old}"), &format!("wasm.{new}"));
    }
    // Every export the glue still reaches must be a renamed one (a future wasm-bindgen that
    // reached exports some other way would stop the build here, not break in browsers).
    for (i, _) in js.match_indices("wasm.") {
        let used: String = js[i + 5..]
            .chars()
            .take_while(|&c| c.is_alphanumeric() || c == '_' || c == '$')
            .collect();
        let prefixed = js[..i]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$');
        if !prefixed && !export_renames.iter().any(|(_, new)| *new == used) {
            bail!("the bindgen glue uses `wasm.{used}`, which the wasm doesn't export");
        }
    }
    Ok((out, js))
}

/// The import section with every `MODULE` import renamed; `(old, new)` pairs go to `renames`.
fn rename_imports(body: &[u8], renames: &mut Vec<(String, String)>) -> Result<Vec<u8>> {
    let mut at = 0;
    let count = leb(body, &mut at)?;
    let mut out = Vec::with_capacity(body.len());
    push_leb(&mut out, count);
    for _ in 0..count {
        let module = name(body, &mut at)?;
        let field = name(body, &mut at)?;
        let desc_start = at;
        match body.get(at).context("truncated import")? {
            // Function: type index.
            0 => {
                at += 1;
                leb(body, &mut at)?;
            }
            kind => bail!("unexpected import kind {kind} ({module}.{field})"),
        }
        if module == MODULE {
            let short = short_name(renames.len());
            push_name(&mut out, SHORT_MODULE);
            push_name(&mut out, &short);
            renames.push((field.to_owned(), short));
        } else {
            push_name(&mut out, module);
            push_name(&mut out, field);
        }
        out.extend_from_slice(&body[desc_start..at]);
    }
    if at != body.len() {
        bail!("trailing bytes in the import section");
    }
    Ok(out)
}

/// The export section with every export renamed; `(old, new)` pairs go to `renames`.
fn rename_exports(body: &[u8], renames: &mut Vec<(String, String)>) -> Result<Vec<u8>> {
    let mut at = 0;
    let count = leb(body, &mut at)?;
    let mut out = Vec::with_capacity(body.len());
    push_leb(&mut out, count);
    for _ in 0..count {
        let field = name(body, &mut at)?;
        let desc_start = at;
        at += 1; // kind
        leb(body, &mut at)?; // index
        let short = short_name(renames.len());
        push_name(&mut out, &short);
        renames.push((field.to_owned(), short));
        out.extend_from_slice(body.get(desc_start..at).context("truncated export")?);
    }
    if at != body.len() {
        bail!("trailing bytes in the export section");
    }
    Ok(out)
}

/// Replaces every `from` that is a whole word (`wasm.free` but not `wasm.free_x` or
/// `xwasm.free`).
fn replace_word(haystack: &str, from: &str, to: &str) -> String {
    let ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$');
    let mut out = String::with_capacity(haystack.len());
    let mut copied = 0;
    for (i, _) in haystack.match_indices(from) {
        let end = i + from.len();
        if !ident(haystack[..i].chars().next_back()) && !ident(haystack[end..].chars().next()) {
            out.push_str(&haystack[copied..i]);
            out.push_str(to);
            copied = end;
        }
    }
    out.push_str(&haystack[copied..]);
    out
}

/// `a`..`z`, then `ba`, `bb`, … (base 26, no leading `a`): valid unquoted JS property names.
fn short_name(mut n: usize) -> String {
    let mut s = Vec::new();
    loop {
        s.push(b'a' + (n % 26) as u8);
        n /= 26;
        if n == 0 {
            break;
        }
    }
    s.reverse();
    String::from_utf8(s).unwrap_or_default()
}

fn replace_once(haystack: &str, from: &str, to: &str) -> Result<String> {
    let count = haystack.matches(from).count();
    if count != 1 {
        bail!("the bindgen glue spells `{from}` {count} times, expected once");
    }
    Ok(haystack.replacen(from, to, 1))
}

pub(crate) fn leb(bytes: &[u8], at: &mut usize) -> Result<u32> {
    let mut value = 0u32;
    for shift in (0..35).step_by(7) {
        let byte = *bytes.get(*at).context("truncated LEB128")?;
        *at += 1;
        value |= u32::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    bail!("LEB128 too long")
}

pub(crate) fn push_leb(out: &mut Vec<u8>, mut value: u32) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn name<'a>(bytes: &'a [u8], at: &mut usize) -> Result<&'a str> {
    let len = leb(bytes, at)? as usize;
    let s = bytes.get(*at..*at + len).context("truncated name")?;
    *at += len;
    std::str::from_utf8(s).context("import name is not UTF-8")
}

fn push_name(out: &mut Vec<u8>, s: &str) {
    push_leb(out, s.len() as u32);
    out.extend_from_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_are_distinct_identifiers() {
        let names: Vec<_> = (0..1000).map(short_name).collect();
        assert_eq!(&names[..3], ["a", "b", "c"]);
        assert_eq!(names[26], "ba");
        let unique: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
    }

    #[test]
    fn renames_imports_in_wasm_and_glue() {
        // (module (import "./checkout_bg.js" "__wbg_x_0123" (func)) (type (func)))
        let mut wasm = b"\0asm\x01\0\0\0".to_vec();
        wasm.extend_from_slice(&[1, 4, 1, 0x60, 0, 0]); // type section: one () -> ()
        let mut imports = Vec::new();
        push_leb(&mut imports, 1);
        push_name(&mut imports, MODULE);
        push_name(&mut imports, "__wbg_x_0123");
        imports.extend_from_slice(&[0, 0]);
        wasm.push(2);
        push_leb(&mut wasm, imports.len() as u32);
        wasm.extend_from_slice(&imports);
        let js = "{ __wbg_x_0123: function() {}, }; return { \"./checkout_bg.js\": import0 };";
        let (wasm, js) = shorten_imports(&wasm, js).expect("rename");
        assert_eq!(js, "{ a: function() {}, }; return { \"m\": import0 };");
        assert_eq!(
            replace_word(
                "wasm.free(); wasm.free_x(); xwasm.free; wasm.free",
                "wasm.free",
                "wasm.c"
            ),
            "wasm.c(); wasm.free_x(); xwasm.free; wasm.c"
        );
        assert!(
            wasm.ends_with(&[2, 7, 1, 1, b'm', 1, b'a', 0, 0]),
            "{wasm:?}"
        );
    }
}
