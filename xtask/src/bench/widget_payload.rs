//! Suite `widget`: what a merchant page downloads (the release bundle), and each locale's share.

use anyhow::{Context as _, Result, bail};
use widget::i18n::Locale;

use super::Ctx;
use super::report::{Figure, Goal, Unit};
use crate::size;

/// Goal for the widget (js + wasm, gzip -9). CI's hard budget is [`size::GZIP_BUDGET`].
const WIDGET_GOAL_BYTES: f64 = 45.0 * 1024.0;

pub(super) fn run(ctx: &Ctx<'_>) -> Result<Vec<Figure>> {
    let report = size::measure(ctx.env)?;
    let mut figures = Vec::new();
    let mut wasm_bytes = None;
    let (mut raw, mut gzip, mut brotli) = (0u64, 0u64, 0u64);
    for file in &report.files {
        let bytes = std::fs::read(&file.path).with_context(|| format!("reading {}", file.name))?;
        let br = size::brotli_len(&bytes)?;
        raw += file.raw;
        gzip += file.gzip;
        brotli += br;
        let short = file
            .path
            .file_name()
            .map_or_else(|| file.name.clone(), |n| n.to_string_lossy().into_owned());
        figures.push(
            Figure::new(
                "widget",
                short.clone(),
                "gzip -9",
                file.gzip as f64,
                Unit::Bytes,
            )
            .note(format!("raw {} B, brotli {} B", file.raw, br)),
        );
        if short.ends_with(".wasm") {
            wasm_bytes = Some(bytes);
        }
    }
    figures.push(
        Figure::new(
            "widget",
            "checkout.js + checkout_bg.wasm",
            "gzip -9",
            gzip as f64,
            Unit::Bytes,
        )
        .goal(Goal::AtMost(WIDGET_GOAL_BYTES))
        .note(format!(
            "{gzip} B; raw {raw} B; CI fails above the {} KiB budget",
            size::GZIP_BUDGET / 1024
        )),
    );
    figures.push(
        Figure::new(
            "widget",
            "checkout.js + checkout_bg.wasm",
            "brotli 11",
            brotli as f64,
            Unit::Bytes,
        )
        .note(format!("{brotli} B")),
    );
    let wasm = wasm_bytes.context("the widget build has no .wasm file")?;
    figures.extend(locale_shares(&wasm, gzip)?);
    Ok(figures)
}

/// Each locale's share of the download: its string table ([`Locale::table`], stored in the
/// wasm as one `\u{1f}`-separated string per locale) is found in the built wasm, and its share
/// is what the compressed wasm loses when those bytes are cut out (gzip -9 and brotli 11 of the
/// whole file with and without them). That is the marginal cost in context: compressing a
/// table on its own would count headers and miss what it shares with the rest.
fn locale_shares(wasm: &[u8], total_gzip: u64) -> Result<Vec<Figure>> {
    let mut tables: Vec<(&str, &str)> = Locale::ALL
        .iter()
        .map(|locale| (locale.tag(), locale.table()))
        .collect();
    tables.sort_unstable();

    let gzip_all = size::gzip_len(wasm)? as f64;
    let brotli_all = size::brotli_len(wasm)? as f64;
    let mut figures = Vec::new();
    let mut without_all = wasm.to_vec();
    let mut raw_all = 0;
    let mut missing = Vec::new();
    for &(tag, table) in &tables {
        let Some(at) = find(wasm, table.as_bytes()) else {
            missing.push(tag);
            continue;
        };
        let mut without = wasm.to_vec();
        without.drain(at..at + table.len());
        let gzip_share = gzip_all - size::gzip_len(&without)? as f64;
        let brotli_share = brotli_all - size::brotli_len(&without)? as f64;
        if let Some(at) = find(&without_all, table.as_bytes()) {
            without_all.drain(at..at + table.len());
        }
        raw_all += table.len();
        figures.push(
            Figure::new(
                "widget",
                format!("locale {tag}"),
                "gzip share",
                gzip_share,
                Unit::Bytes,
            )
            .note(format!(
                "raw {} B, brotli share {brotli_share:.0} B",
                table.len()
            )),
        );
    }
    if !missing.is_empty() {
        bail!(
            "the string tables of {} were not found verbatim in the built wasm: the per-locale method needs updating",
            missing.join(", ")
        );
    }
    let gzip_share = gzip_all - size::gzip_len(&without_all)? as f64;
    let brotli_share = brotli_all - size::brotli_len(&without_all)? as f64;
    figures.insert(
        0,
        Figure::new("widget", format!("all {} locales' texts", tables.len()), "gzip share", gzip_share, Unit::Bytes)
            .note(format!(
                "{:.1} % of the gzip total; raw {raw_all} B, brotli share {brotli_share:.0} B; share = compressed wasm minus compressed wasm without the table",
                100.0 * gzip_share / total_gzip as f64
            )),
    );
    Ok(figures)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use widget::i18n::Phrase;

    use super::*;

    #[test]
    fn finds_each_locale_table_in_a_blob_that_holds_it() {
        assert_eq!(find(b"abcdef", b"cd"), Some(2));
        assert_eq!(find(b"abcdef", b"dc"), None);
        // The widget crate hands out the exact bytes the wasm stores: every phrase, each ended
        // by U+001F, with the `{amount}` placeholder intact.
        for locale in Locale::ALL {
            let table = locale.table();
            assert_eq!(
                table.matches('\u{1f}').count(),
                Phrase::ALL.len(),
                "{}",
                locale.tag()
            );
            assert!(table.ends_with('\u{1f}'));
            assert!(table.contains("{amount}"), "{}", locale.tag());
            let blob = [b"\0asm".as_slice(), table.as_bytes(), b"tail"].concat();
            assert_eq!(find(&blob, table.as_bytes()), Some(4));
        }
    }
}
