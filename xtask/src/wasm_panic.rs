//! Makes the release widget's panics trap at once, and drops the code only a panic runs.
//!
//! The widget builds with `panic = "abort"`: a panic is a bug, and it ends in a wasm trap.
//! Before it traps, std's panic handler (`rust_begin_unwind`) runs the panic hook, which on
//! `wasm32-unknown-unknown` writes the message nowhere (stderr is a sink there). Stable Rust
//! can't replace that handler while std is linked, so the build links it along with the
//! `core::fmt` machinery it formats the message with (`fmt::write`, `Formatter::pad`, integer
//! `Display`, the payload types, ...): measured ~2.4 KB gzip of code the widget never runs
//! except on the way to the trap.
//!
//! Here, on wasm-bindgen's output (which still has its name section), the handler's body
//! becomes `unreachable`, the trap it ended in anyway. Then every function that only the
//! handler or the formatting machinery reaches gets the same body, and `wasm-opt` drops
//! what they called. What "reaches" means, from the code itself: the exports, the start
//! function and the function table are the roots, and direct calls and `ref.func` the
//! edges; the handler's own calls are not followed, and table entries that implement a
//! `core::fmt` trait or `core::panic::PanicPayload` are not roots (only formatting code
//! calls them, through `call_indirect`). If a live path formats after all (a `to_string()`,
//! a `format!`: some formatting code is reached from the roots), those entries are roots
//! too, since the call graph can't see which of them it calls. So no function a
//! non-panicking run can execute changes.

use std::collections::{HashMap, HashSet};

use anyhow::{Context as _, Result, bail};

use crate::wasm_names::{leb, push_leb};

/// What [`trap_panics`] did.
#[derive(Debug)]
pub(crate) struct Trapped {
    pub(crate) wasm: Vec<u8>,
    /// How many function bodies became `unreachable`.
    pub(crate) functions: usize,
}

/// The module's functions as far as this pass needs them.
#[derive(Debug, Default)]
struct Module {
    imported: u32,
    /// Name section names, by function index.
    names: HashMap<u32, String>,
    roots: Vec<u32>,
    /// Table entries (roots unless they implement a formatting or panic-payload trait).
    table: Vec<u32>,
    /// Direct calls and `ref.func`s, by the defined function's index.
    edges: HashMap<u32, Vec<u32>>,
    /// (start, end) of each code entry (size prefix included), by defined function.
    bodies: Vec<(usize, usize)>,
    code_section: Option<(usize, usize)>,
}

/// Replaces std's panic handler and everything only it (or formatting) reaches by
/// `unreachable`; see the module docs.
pub(crate) fn trap_panics(wasm: &[u8]) -> Result<Trapped> {
    if wasm.get(..8) != Some(b"\0asm\x01\0\0\0".as_slice()) {
        bail!("not a wasm module");
    }
    let module = parse(wasm)?;
    let handler = module
        .names
        .iter()
        .filter(|(_, name)| name.ends_with("::rust_begin_unwind") || *name == "rust_begin_unwind")
        .map(|(index, _)| *index)
        .collect::<Vec<_>>();
    let [handler] = handler[..] else {
        bail!(
            "expected one `rust_begin_unwind` in the widget's name section, found {}: \
             update xtask/src/wasm_panic.rs",
            handler.len()
        );
    };

    let name_of = |index: &u32| module.names.get(index).map_or("", String::as_str);
    let reach = |table_formatting: bool| {
        let mut live = HashSet::new();
        let mut todo: Vec<u32> = module
            .roots
            .iter()
            .copied()
            .chain(
                module
                    .table
                    .iter()
                    .copied()
                    .filter(|f| table_formatting || !implements_formatting(name_of(f))),
            )
            .collect();
        while let Some(f) = todo.pop() {
            if f == handler || !live.insert(f) {
                continue;
            }
            if let Some(callees) = module.edges.get(&f) {
                todo.extend(callees.iter().copied());
            }
        }
        live
    };
    let mut live = reach(false);
    // Formatting that a live path runs (a `to_string()`, a `format!`) calls the table's
    // `fmt::Write` / `Display` entries through `call_indirect`, which the call graph can't see:
    // then every formatting entry of the table stays (the formatting code is no longer dead).
    if live.iter().any(|f| is_formatting_code(name_of(f))) {
        println!("  panics trap: a live path formats, so the table's formatting entries stay");
        live = reach(true);
    }

    let (code_start, code_end) = module.code_section.context("no code section")?;
    let mut code = Vec::with_capacity(code_end - code_start);
    push_leb(&mut code, module.bodies.len() as u32);
    let mut functions = 0;
    for (i, &(start, end)) in module.bodies.iter().enumerate() {
        let index = module.imported + i as u32;
        if index == handler || !live.contains(&index) {
            // size 3: no locals, `unreachable`, `end`.
            code.extend_from_slice(&[3, 0, 0x00, 0x0b]);
            functions += 1;
        } else {
            code.extend_from_slice(&wasm[start..end]);
        }
    }
    let mut out = wasm[..code_start].to_vec();
    out.push(10);
    push_leb(&mut out, code.len() as u32);
    out.extend_from_slice(&code);
    out.extend_from_slice(&wasm[code_end..]);
    Ok(Trapped {
        wasm: out,
        functions,
    })
}

/// `<T as core::fmt::Display>::fmt`, `<T as core[…]::panic::PanicPayload>::get`, …: a method
/// of a trait only formatting (or the panic handler) calls through a table.
fn implements_formatting(name: &str) -> bool {
    let Some((_, rest)) = name.split_once(" as ") else {
        return false;
    };
    let trait_path = match rest.strip_prefix("core[") {
        Some(hashed) => hashed.split_once(']').map_or("", |(_, path)| path),
        None => rest.strip_prefix("core").unwrap_or(""),
    };
    trait_path.starts_with("::fmt::") || trait_path.starts_with("::panic::PanicPayload>")
}

/// Code that formats: `core::fmt`'s own functions (`fmt::write`, `Formatter`'s methods, …),
/// `alloc::fmt::format`, and formatting-trait methods (reached directly, e.g. by `to_string()`).
fn is_formatting_code(name: &str) -> bool {
    let unhashed = |krate: &str| {
        name.trim_start_matches('<')
            .strip_prefix(krate)
            .map(|rest| match rest.strip_prefix('[') {
                Some(hashed) => hashed.split_once(']').map_or("", |(_, path)| path),
                None => rest,
            })
            .is_some_and(|path| path.starts_with("::fmt::"))
    };
    unhashed("core") || unhashed("alloc") || implements_formatting(name)
}

fn parse(wasm: &[u8]) -> Result<Module> {
    let mut module = Module::default();
    let mut pos = 8;
    while pos < wasm.len() {
        let id = wasm[pos];
        let mut at = pos + 1;
        let size = leb(wasm, &mut at)? as usize;
        let end = at + size;
        let body = wasm.get(at..end).context("truncated wasm section")?;
        match id {
            2 => module.imported = imported_functions(body)?,
            7 => module.roots.extend(exported_functions(body)?),
            8 => module.roots.push(leb(body, &mut 0)?),
            9 => module.table = table_functions(body)?,
            10 => {
                module.code_section = Some((pos, end));
                let mut p = 0;
                let count = leb(body, &mut p)?;
                for i in 0..count {
                    let entry = at + p;
                    let len = leb(body, &mut p)? as usize;
                    let calls = calls(body.get(p..p + len).context("truncated function")?)
                        .with_context(|| format!("reading function {i}"))?;
                    p += len;
                    module.bodies.push((entry, at + p));
                    module.edges.insert(module.imported + i, calls);
                }
            }
            0 => {
                let mut p = 0;
                if name(body, &mut p)? == "name" {
                    module.names = function_names(&body[p..])?;
                }
            }
            _ => {}
        }
        pos = end;
    }
    if module.names.is_empty() {
        bail!("the widget's wasm has no function names (wasm-bindgen output expected)");
    }
    Ok(module)
}

fn imported_functions(body: &[u8]) -> Result<u32> {
    let mut at = 0;
    let mut functions = 0;
    for _ in 0..leb(body, &mut at)? {
        name(body, &mut at)?;
        name(body, &mut at)?;
        let kind = *body.get(at).context("truncated import")?;
        at += 1;
        match kind {
            0 => {
                leb(body, &mut at)?;
                functions += 1;
            }
            // Table: reftype + limits; memory: limits; global: valtype + mutability.
            1 => {
                at += 1;
                limits(body, &mut at)?;
            }
            2 => limits(body, &mut at)?,
            3 => at += 2,
            kind => bail!("unexpected import kind {kind}"),
        }
    }
    Ok(functions)
}

fn limits(body: &[u8], at: &mut usize) -> Result<()> {
    let flags = *body.get(*at).context("truncated limits")?;
    *at += 1;
    leb(body, at)?;
    if flags & 1 == 1 {
        leb(body, at)?;
    }
    Ok(())
}

fn exported_functions(body: &[u8]) -> Result<Vec<u32>> {
    let mut at = 0;
    let mut out = Vec::new();
    for _ in 0..leb(body, &mut at)? {
        name(body, &mut at)?;
        let kind = *body.get(at).context("truncated export")?;
        at += 1;
        let index = leb(body, &mut at)?;
        if kind == 0 {
            out.push(index);
        }
    }
    Ok(out)
}

/// The function indices of the element segments (the forms wasm-bindgen and rustc emit:
/// active or passive/declared, function indices, not expressions).
fn table_functions(body: &[u8]) -> Result<Vec<u32>> {
    let mut at = 0;
    let mut out = Vec::new();
    for _ in 0..leb(body, &mut at)? {
        let flags = leb(body, &mut at)?;
        match flags {
            0 => skip_const_expr(body, &mut at)?,
            1 | 3 => at += 1, // elemkind
            2 => {
                leb(body, &mut at)?; // table
                skip_const_expr(body, &mut at)?;
                at += 1; // elemkind
            }
            flags => bail!("element segment form {flags} (expressions) is not handled"),
        }
        for _ in 0..leb(body, &mut at)? {
            out.push(leb(body, &mut at)?);
        }
    }
    Ok(out)
}

fn skip_const_expr(body: &[u8], at: &mut usize) -> Result<()> {
    loop {
        let op = *body.get(*at).context("truncated constant expression")?;
        *at += 1;
        match op {
            0x0b => return Ok(()),
            0x41 | 0x42 | 0x23 => skip_leb(body, at)?,
            op => bail!("unexpected opcode {op:#x} in a constant expression"),
        }
    }
}

/// The functions a body calls directly or takes a reference to.
fn calls(body: &[u8]) -> Result<Vec<u32>> {
    let mut at = 0;
    for _ in 0..leb(body, &mut at)? {
        leb(body, &mut at)?; // count
        at += 1; // valtype
    }
    let mut out = Vec::new();
    while at < body.len() {
        let op = body[at];
        at += 1;
        match op {
            // No immediates: control without labels, parametric, numeric (incl. sign-ext),
            // ref.is_null.
            0x00 | 0x01 | 0x05 | 0x0b | 0x0f | 0x1a | 0x1b | 0x45..=0xc4 | 0xd1 => {}
            // Block types, labels, locals, globals, tables, memory indices, integer constants.
            0x02..=0x04 | 0x0c | 0x0d | 0x20..=0x26 | 0x41 | 0x42 | 0xd0 | 0x3f | 0x40 => {
                skip_leb(body, &mut at)?
            }
            0x0e => {
                for _ in 0..=leb(body, &mut at)? {
                    leb(body, &mut at)?;
                }
            }
            0x10 | 0x12 | 0xd2 => out.push(leb(body, &mut at)?),
            0x11 | 0x13 => {
                leb(body, &mut at)?;
                leb(body, &mut at)?;
            }
            0x1c => {
                for _ in 0..leb(body, &mut at)? {
                    skip_leb(body, &mut at)?;
                }
            }
            0x28..=0x3e => {
                let align = leb(body, &mut at)?;
                if align & 0x40 != 0 {
                    leb(body, &mut at)?;
                }
                leb(body, &mut at)?;
            }
            0x43 => at += 4,
            0x44 => at += 8,
            0xfc => match leb(body, &mut at)? {
                0..=7 => {}
                9 | 11 | 13 | 15..=17 => skip_leb(body, &mut at)?,
                8 | 10 | 12 | 14 => {
                    skip_leb(body, &mut at)?;
                    skip_leb(body, &mut at)?;
                }
                sub => bail!("unknown instruction 0xfc {sub}"),
            },
            op => bail!("unknown opcode {op:#x}"),
        }
    }
    Ok(out)
}

fn skip_leb(bytes: &[u8], at: &mut usize) -> Result<()> {
    loop {
        let byte = *bytes.get(*at).context("truncated LEB128")?;
        *at += 1;
        if byte & 0x80 == 0 {
            return Ok(());
        }
    }
}

fn name<'a>(bytes: &'a [u8], at: &mut usize) -> Result<&'a str> {
    let len = leb(bytes, at)? as usize;
    let s = bytes.get(*at..*at + len).context("truncated name")?;
    *at += len;
    std::str::from_utf8(s).context("a name is not UTF-8")
}

/// Subsection 1 of the `name` custom section: function index → name.
fn function_names(section: &[u8]) -> Result<HashMap<u32, String>> {
    let mut at = 0;
    while at < section.len() {
        let id = section[at];
        at += 1;
        let size = leb(section, &mut at)? as usize;
        let sub = section
            .get(at..at + size)
            .context("truncated name subsection")?;
        at += size;
        if id == 1 {
            let mut p = 0;
            let mut names = HashMap::new();
            for _ in 0..leb(sub, &mut p)? {
                let index = leb(sub, &mut p)?;
                names.insert(index, name(sub, &mut p)?.to_owned());
            }
            return Ok(names);
        }
    }
    Ok(HashMap::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(out: &mut Vec<u8>, id: u8, body: &[u8]) {
        out.push(id);
        push_leb(out, body.len() as u32);
        out.extend_from_slice(body);
    }

    fn names(list: &[&str]) -> Vec<u8> {
        let mut sub = Vec::new();
        push_leb(&mut sub, list.len() as u32);
        for (i, n) in list.iter().enumerate() {
            push_leb(&mut sub, i as u32);
            push_leb(&mut sub, n.len() as u32);
            sub.extend_from_slice(n.as_bytes());
        }
        let mut body = vec![4];
        body.extend_from_slice(b"name");
        body.push(1);
        push_leb(&mut body, sub.len() as u32);
        body.extend_from_slice(&sub);
        body
    }

    /// A body of size 5 that calls function `f` directly.
    fn call(f: u8) -> Vec<u8> {
        vec![5, 0, 0x10, f, 0x01, 0x0b]
    }

    /// A module of `() -> ()` functions named `names` with these bodies (each with its size
    /// prefix), function 0 exported as `run`, and `table` in one element segment at offset 1.
    fn module(names_list: &[&str], table: &[u8], bodies: &[Vec<u8>]) -> Vec<u8> {
        let count = u8::try_from(bodies.len()).expect("a small module");
        let mut wasm = b"\0asm\x01\0\0\0".to_vec();
        section(&mut wasm, 1, &[1, 0x60, 0, 0]);
        let mut functions = vec![count];
        functions.extend(std::iter::repeat_n(0, bodies.len()));
        section(&mut wasm, 3, &functions);
        section(&mut wasm, 7, &[1, 3, b'r', b'u', b'n', 0, 0]);
        let mut elements = vec![
            1,
            0,
            0x41,
            1,
            0x0b,
            u8::try_from(table.len()).expect("small"),
        ];
        elements.extend_from_slice(table);
        section(&mut wasm, 9, &elements);
        let mut code = vec![count];
        for body in bodies {
            code.extend_from_slice(body);
        }
        section(&mut wasm, 10, &code);
        section(&mut wasm, 0, &names(names_list));
        wasm
    }

    #[test]
    fn traps_the_handler_and_what_only_it_or_formatting_reaches() {
        // f0 export "run": calls f1. f1 live helper. f2 the handler: calls f3.
        // f3 reached only from the handler. f4 a Display impl in the table: calls f5.
        // f5 reached from f4 only. f6 in the table, not formatting: kept.
        let list = [
            "run",
            "helper",
            "__rustc[0]::rust_begin_unwind",
            "core[1]::fmt::write",
            "<core[1]::cell::BorrowError as core[1]::fmt::Display>::fmt",
            "<core[1]::fmt::Formatter>::pad",
            "closure::invoke",
        ];
        let wasm = module(
            &list,
            &[4, 6],
            &[
                call(1),
                vec![4, 0, 0x41, 0x7f, 0x0b],
                call(3),
                vec![2, 0, 0x0b],
                call(5),
                vec![2, 0, 0x0b],
                vec![2, 0, 0x0b],
            ],
        );

        let trapped = trap_panics(&wasm).expect("trapped");
        assert_eq!(trapped.functions, 4);
        let module = parse(&trapped.wasm).expect("still a module");
        let body = |i: usize| {
            let (start, end) = module.bodies[i];
            trapped.wasm[start..end].to_vec()
        };
        assert_eq!(body(0), call(1));
        assert_eq!(body(1), [4, 0, 0x41, 0x7f, 0x0b]);
        for i in [2, 3, 4, 5] {
            assert_eq!(body(i), [3, 0, 0x00, 0x0b], "function {i}");
        }
        assert_eq!(body(6), [2, 0, 0x0b]);
    }

    /// A live `to_string()`: `run` calls a `Display` impl directly, which writes through the
    /// table's `<String as fmt::Write>::write_str` (a `call_indirect`): that entry must stay.
    #[test]
    fn formatting_a_live_path_runs_keeps_the_tables_formatting_entries() {
        let list = [
            "run",
            "<u32 as core[1]::fmt::Display>::fmt",
            "__rustc[0]::rust_begin_unwind",
            "<alloc[2]::string::String as core[1]::fmt::Write>::write_str",
            "core[1]::fmt::write",
        ];
        // f1 calls table slot 1 (f3) indirectly: call_indirect type 0, table 0.
        let indirect = vec![7, 0, 0x41, 1, 0x11, 0, 0, 0x0b];
        let wasm = module(
            &list,
            &[3],
            &[
                call(1),
                indirect,
                vec![2, 0, 0x0b],
                vec![2, 0, 0x0b],
                vec![2, 0, 0x0b],
            ],
        );

        let trapped = trap_panics(&wasm).expect("trapped");
        let module = parse(&trapped.wasm).expect("still a module");
        let body = |i: usize| {
            let (start, end) = module.bodies[i];
            trapped.wasm[start..end].to_vec()
        };
        assert_eq!(body(3), [2, 0, 0x0b], "write_str must stay");
        assert_eq!(body(2), [3, 0, 0x00, 0x0b], "the handler still traps");
        assert_eq!(
            body(4),
            [3, 0, 0x00, 0x0b],
            "fmt::write: nothing live calls it"
        );
        assert_eq!(trapped.functions, 2);
    }

    #[test]
    fn formatting_code_is_recognised() {
        assert!(is_formatting_code("core[c5]::fmt::write"));
        assert!(is_formatting_code(
            "<core[c5]::fmt::Formatter>::pad_integral"
        ));
        assert!(is_formatting_code("alloc[3c]::fmt::format::format_inner"));
        assert!(is_formatting_code("<u32 as core[c5]::fmt::Display>::fmt"));
        assert!(!is_formatting_code("core[c5]::panicking::panic_fmt"));
        assert!(!is_formatting_code("widget::widget::Inner::render"));
    }

    #[test]
    fn formatting_trait_impls_are_recognised() {
        assert!(implements_formatting(
            "<core[c5]::cell::BorrowError as core[c5]::fmt::Display>::fmt"
        ));
        assert!(implements_formatting(
            "<std[a5]::panicking::X as core[c5]::panic::PanicPayload>::take_box"
        ));
        assert!(implements_formatting(
            "<widget::Inner as core::fmt::Debug>::fmt::h0123"
        ));
        assert!(!implements_formatting(
            "<js_sys::futures::JsFuture<T,E> as core::future::future::Future>::poll::h01"
        ));
        assert!(!implements_formatting("core[c5]::fmt::write"));
    }
}
