//! Locale negotiation: the shopper's `navigator.languages` (or a merchant's `locale`) → one
//! of our [`Locale`]s.
//!
//! Each preferred tag is tried in order, and for each the chain is: exact tag → Chinese
//! script/region rules (zh-HK/zh-MO/zh-Hant → zh-TW; zh/zh-SG/zh-Hans → zh-CN) → the
//! language alone (fr-CH → fr, pt-PT → pt-BR). Only when no preferred tag matches at all do
//! we fall back to English, so `["fr-CH", "de"]` gives French, not English.

use crate::i18n::Locale;

/// The locale for one tag, if we ship one for it. Case-insensitive; `_` is read as `-`.
pub fn match_tag(tag: &str) -> Option<Locale> {
    let tag: String = tag
        .trim()
        .chars()
        .map(|c| {
            if c == '_' {
                '-'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect();
    let mut parts = tag.split('-');
    let language = parts.next().unwrap_or("");
    let rest: Vec<&str> = parts.collect();
    match language {
        "zh" => Some(chinese(&rest)),
        "en" => Some(Locale::En),
        "es" => Some(Locale::Es),
        "fr" => Some(Locale::Fr),
        "de" => Some(Locale::De),
        "pt" => Some(Locale::PtBr),
        "ja" => Some(Locale::Ja),
        "ko" => Some(Locale::Ko),
        "hi" => Some(Locale::Hi),
        "ar" => Some(Locale::Ar),
        "ru" => Some(Locale::Ru),
        // `in` is the pre-1989 code for Indonesian, still sent by old Android WebViews.
        "id" | "in" => Some(Locale::Id),
        "tr" => Some(Locale::Tr),
        "vi" => Some(Locale::Vi),
        _ => None,
    }
}

/// zh-HK → zh-TW → zh-CN: Traditional script or a Traditional-using region gives zh-TW,
/// everything else Chinese gives zh-CN.
fn chinese(subtags: &[&str]) -> Locale {
    let traditional = subtags
        .iter()
        .any(|s| matches!(*s, "hant" | "tw" | "hk" | "mo"));
    let simplified = subtags.contains(&"hans");
    if traditional && !simplified {
        Locale::ZhTw
    } else {
        Locale::ZhCn
    }
}

/// The first preferred tag we can serve, else English.
pub fn negotiate<S: AsRef<str>>(preferred: &[S]) -> Locale {
    preferred
        .iter()
        .find_map(|tag| match_tag(tag.as_ref()))
        .unwrap_or(Locale::En)
}

/// A merchant `locale` option: `auto` (or empty) negotiates from the browser's list; any
/// other tag is tried first, then the browser's list, then English.
pub fn resolve<S: AsRef<str>>(option: Option<&str>, browser: &[S]) -> Locale {
    match option.map(str::trim) {
        None | Some("") | Some("auto") => negotiate(browser),
        Some(tag) => match_tag(tag).unwrap_or_else(|| negotiate(browser)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_table() {
        let table: &[(&[&str], Locale)] = &[
            (&["en-US"], Locale::En),
            (&["zh-CN"], Locale::ZhCn),
            (&["zh"], Locale::ZhCn),
            (&["zh-SG"], Locale::ZhCn),
            (&["zh-Hans-HK"], Locale::ZhCn),
            (&["zh-TW"], Locale::ZhTw),
            (&["zh-HK"], Locale::ZhTw),
            (&["zh-MO"], Locale::ZhTw),
            (&["zh-Hant"], Locale::ZhTw),
            (&["zh_hk"], Locale::ZhTw),
            (&["ZH-tw"], Locale::ZhTw),
            (&["es-419"], Locale::Es),
            (&["fr-CH", "de"], Locale::Fr),
            (&["de-AT"], Locale::De),
            (&["pt-PT"], Locale::PtBr),
            (&["pt-BR"], Locale::PtBr),
            (&["ja-JP"], Locale::Ja),
            (&["ko-KR"], Locale::Ko),
            (&["hi-IN"], Locale::Hi),
            (&["ar-EG"], Locale::Ar),
            (&["ru-RU"], Locale::Ru),
            (&["id-ID"], Locale::Id),
            (&["in-ID"], Locale::Id),
            (&["tr-TR"], Locale::Tr),
            (&["vi-VN"], Locale::Vi),
            (&["nl-NL", "sv", "ja"], Locale::Ja),
            (&["nl-NL"], Locale::En),
            (&["", "  "], Locale::En),
            (&[], Locale::En),
        ];
        for (tags, want) in table {
            assert_eq!(negotiate(tags), *want, "{tags:?}");
        }
    }

    #[test]
    fn every_locale_negotiates_to_itself() {
        for locale in Locale::ALL {
            assert_eq!(match_tag(locale.tag()), Some(locale));
        }
    }

    #[test]
    fn explicit_option_beats_browser_and_auto_uses_it() {
        let browser = ["ja-JP", "en"];
        assert_eq!(resolve(Some("auto"), &browser), Locale::Ja);
        assert_eq!(resolve(None, &browser), Locale::Ja);
        assert_eq!(resolve(Some("zh-HK"), &browser), Locale::ZhTw);
        assert_eq!(resolve(Some("xx"), &browser), Locale::Ja);
        assert_eq!(resolve(Some("xx"), &[] as &[&str]), Locale::En);
    }
}
