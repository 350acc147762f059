//! Suite `widget`: what a merchant page downloads (the release bundle) in each locale: the
//! first payload (checkout.js + checkout_bg.wasm, English built in, plus the shopper's locale
//! file when it isn't English) and what each locale adds on demand.

use anyhow::{Context as _, Result, bail};
use widget::i18n::Locale;

use super::Ctx;
use super::report::{Figure, Goal, Unit};
use crate::size;

/// Goal for the first payload in any locale (js + wasm + that locale's file, gzip -9). CI's hard
/// budget on js + wasm is [`size::GZIP_BUDGET`].
const FIRST_PAYLOAD_GOAL_BYTES: f64 = size::FIRST_PAYLOAD_GOAL as f64;

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
            "first payload, en: checkout.js + checkout_bg.wasm",
            "gzip -9",
            gzip as f64,
            Unit::Bytes,
        )
        .goal(Goal::AtMost(FIRST_PAYLOAD_GOAL_BYTES))
        .note(format!(
            "{gzip} B; raw {raw} B; brotli 11 {brotli} B; English is built in; CI fails above the {} KiB budget",
            size::GZIP_BUDGET / 1024
        )),
    );
    let wasm = wasm_bytes.context("the widget build has no .wasm file")?;
    figures.push(english_share(&wasm)?);
    for (tag, file) in &report.locales {
        let bytes = std::fs::read(&file.path).with_context(|| format!("reading {}", file.name))?;
        let br = size::brotli_len(&bytes)?;
        figures.push(
            Figure::new(
                "widget",
                format!("first payload, {tag}: + its locale file"),
                "gzip -9",
                (gzip + file.gzip) as f64,
                Unit::Bytes,
            )
            .goal(Goal::AtMost(FIRST_PAYLOAD_GOAL_BYTES))
            .note(format!(
                "{} B; brotli 11 {} B; the locale file is fetched in parallel with the wasm",
                gzip + file.gzip,
                brotli + br
            )),
        );
        figures.push(
            Figure::new(
                "widget",
                format!("locale {tag} on demand"),
                "gzip -9",
                file.gzip as f64,
                Unit::Bytes,
            )
            .goal(Goal::AtMost(size::LOCALE_GZIP_BUDGET as f64))
            .note(format!(
                "raw {} B, brotli 11 {br} B; {}",
                file.raw,
                file.path
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
            )),
        );
    }
    Ok(figures)
}

/// English's share of the wasm: its string table ([`Locale::table`], one `\u{1f}`-separated
/// string) is found in the built wasm, and its share is what the compressed wasm loses when
/// those bytes are cut out (the marginal cost in context). Every other locale's table must
/// *not* be in the wasm: they are files fetched on demand.
fn english_share(wasm: &[u8]) -> Result<Figure> {
    let built_in: Vec<&str> = Locale::ALL
        .into_iter()
        .filter(|l| *l != Locale::En && find(wasm, l.table().as_bytes()).is_some())
        .map(Locale::tag)
        .collect();
    if !built_in.is_empty() {
        bail!(
            "the wasm carries the texts of {}: only English should be compiled in",
            built_in.join(", ")
        );
    }
    let table = Locale::En.table();
    let at = find(wasm, table.as_bytes()).context(
        "the English table was not found verbatim in the built wasm: the method needs updating",
    )?;
    let mut without = wasm.to_vec();
    without.drain(at..at + table.len());
    let gzip_share = size::gzip_len(wasm)? as f64 - size::gzip_len(&without)? as f64;
    let brotli_share = size::brotli_len(wasm)? as f64 - size::brotli_len(&without)? as f64;
    Ok(Figure::new(
        "widget",
        "locale en (built into the wasm)",
        "gzip share",
        gzip_share,
        Unit::Bytes,
    )
    .note(format!(
        "raw {} B, brotli share {brotli_share:.0} B; share = compressed wasm minus compressed wasm without the table",
        table.len()
    )))
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
