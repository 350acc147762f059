//! Amounts on the pay button without `Intl`: each locale's currency format as data.
//!
//! The first `Intl.NumberFormat` of a page costs 12-40 ms of main thread (ICU loads its number
//! data), which the button's first paint would wait for. The two currencies the gateway takes
//! (`checkout_core::Currency`) in the fifteen locales are few enough to write down: these are
//! exactly what `Intl.NumberFormat(tag, { style: "currency", currency })` prints in Chromium 156
//! and Node 20 (ICU 78), separators and no-break spaces included, and the browser suite checks
//! them against the browser's `Intl` for every locale and currency. The build hands [`style`]'s
//! table to the boot glue, whose `money()` writes every amount the page shows (the first
//! button's, and the wasm's, which calls it through the `money` mount option instead of
//! carrying this code too); [`format()`] is the same algorithm, the reference the tests hold the
//! glue's copy to.

use crate::i18n::Locale;

/// How one locale writes money.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// Between the whole units and the cents.
    pub decimal: &'static str,
    /// Between digit groups.
    pub group: &'static str,
    /// Groups of two above the first three digits (`12,34,567`, Hindi).
    pub indian: bool,
    /// A four-digit amount is not grouped (`1234,50`, Spanish).
    pub min_two: bool,
    /// Before and after the number, per currency in `checkout_core::Currency::ALL` order
    /// (USD, INR).
    pub affixes: [(&'static str, &'static str); 2],
}

/// The currencies [`Style::affixes`] covers, in its order.
pub const CURRENCIES: [&str; 2] = ["USD", "INR"];

const DOLLAR: (&str, &str) = ("$", "");
const US_DOLLAR: (&str, &str) = ("US$", "");
const RUPEE: (&str, &str) = ("\u{20b9}", "");

const fn dot(usd: (&'static str, &'static str), inr: (&'static str, &'static str)) -> Style {
    Style {
        decimal: ".",
        group: ",",
        indian: false,
        min_two: false,
        affixes: [usd, inr],
    }
}

const fn comma(
    group: &'static str,
    usd: (&'static str, &'static str),
    inr: (&'static str, &'static str),
) -> Style {
    Style {
        decimal: ",",
        group,
        indian: false,
        min_two: false,
        affixes: [usd, inr],
    }
}

/// In [`Locale`] order (data, not code: this is in every build of the wasm).
static STYLES: [Style; 15] = [
    // en
    dot(DOLLAR, RUPEE),
    // zh-CN, zh-TW
    dot(US_DOLLAR, RUPEE),
    dot(US_DOLLAR, RUPEE),
    // es
    Style {
        min_two: true,
        ..comma(".", ("", "\u{a0}US$"), ("", "\u{a0}INR"))
    },
    // fr
    comma("\u{202f}", ("", "\u{a0}$US"), ("", "\u{a0}\u{20b9}")),
    // de
    comma(".", ("", "\u{a0}$"), ("", "\u{a0}\u{20b9}")),
    // pt-BR
    comma(".", ("US$\u{a0}", ""), ("\u{20b9}\u{a0}", "")),
    // ja, ko
    dot(DOLLAR, RUPEE),
    dot(US_DOLLAR, RUPEE),
    // hi
    Style {
        indian: true,
        ..dot(DOLLAR, RUPEE)
    },
    // ar
    dot(("\u{200f}", "\u{a0}US$"), ("\u{200f}", "\u{a0}\u{20b9}")),
    // ru
    comma("\u{a0}", ("", "\u{a0}$"), ("", "\u{a0}\u{20b9}")),
    // id
    comma(".", US_DOLLAR, ("Rs\u{a0}", "")),
    // tr
    comma(".", DOLLAR, RUPEE),
    // vi
    comma(".", ("", "\u{a0}US$"), ("", "\u{a0}\u{20b9}")),
];

/// `locale`'s money format.
pub fn style(locale: Locale) -> Style {
    STYLES[locale as usize]
}

/// `minor` units (cents) of `currency` as `locale` writes them, e.g. `$1,234.50`. A currency
/// outside [`CURRENCIES`] is written `XYZ 1234.50`.
pub fn format(locale: Locale, minor: i64, currency: &str) -> String {
    let style = style(locale);
    let (pre, post, decimal) = match CURRENCIES.iter().position(|c| *c == currency) {
        Some(i) => (style.affixes[i].0, style.affixes[i].1, style.decimal),
        None => (currency, "", "."),
    };
    let whole = crate::decimal(minor.unsigned_abs() as i64 / 100);
    let cents = crate::decimal(100 + (minor.unsigned_abs() % 100) as i64);
    let mut out = String::with_capacity(whole.len() * 2 + 16);
    out.push_str(pre);
    if pre == currency {
        out.push(' ');
    }
    if minor < 0 {
        out.push('-');
    }
    let len = whole.len();
    let grouped = pre != currency && len >= if style.min_two { 5 } else { 4 };
    for (i, digit) in whole.char_indices() {
        let left = len - i;
        if grouped
            && i > 0
            && left >= 3
            && (left == 3 || (left - 3).is_multiple_of(group_size(style)))
        {
            out.push_str(style.group);
        }
        out.push(digit);
    }
    out.push_str(decimal);
    out.push_str(cents.get(1..).unwrap_or("00"));
    out.push_str(post);
    out
}

fn group_size(style: Style) -> usize {
    if style.indian { 2 } else { 3 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_as_intl_writes_them() {
        let cases = [
            (Locale::En, 2400, "USD", "$24.00"),
            (Locale::En, 123_456_789, "USD", "$1,234,567.89"),
            (Locale::En, 50, "INR", "\u{20b9}0.50"),
            (Locale::Hi, 123_456_789, "INR", "\u{20b9}12,34,567.89"),
            (Locale::Hi, 123_450, "USD", "$1,234.50"),
            (Locale::Es, 123_450, "USD", "1234,50\u{a0}US$"),
            (Locale::Es, 1_234_550, "USD", "12.345,50\u{a0}US$"),
            (Locale::Es, 123_456_789, "INR", "1.234.567,89\u{a0}INR"),
            (Locale::Fr, 123_450, "USD", "1\u{202f}234,50\u{a0}$US"),
            (Locale::De, 2400, "USD", "24,00\u{a0}$"),
            (Locale::PtBr, 2400, "USD", "US$\u{a0}24,00"),
            (Locale::Ar, 2400, "USD", "\u{200f}24.00\u{a0}US$"),
            (Locale::Ru, 123_450, "INR", "1\u{a0}234,50\u{a0}\u{20b9}"),
            (Locale::Id, 123_450, "INR", "Rs\u{a0}1.234,50"),
            (Locale::ZhCn, 2400, "USD", "US$24.00"),
            (Locale::ZhTw, 2400, "INR", "\u{20b9}24.00"),
            (Locale::Ja, 123_450, "USD", "$1,234.50"),
            (Locale::Ko, 2400, "USD", "US$24.00"),
            (Locale::Vi, 123_456_789, "USD", "1.234.567,89\u{a0}US$"),
            (Locale::Tr, 5, "USD", "$0,05"),
            (Locale::En, 123_456, "EUR", "EUR 1234.56"),
        ];
        for (locale, minor, currency, want) in cases {
            assert_eq!(
                format(locale, minor, currency),
                want,
                "{locale:?} {minor} {currency}"
            );
        }
    }

    #[test]
    fn every_gateway_currency_has_affixes() {
        let codes: Vec<&str> = checkout_core::Currency::ALL
            .iter()
            .map(|c| c.code())
            .collect();
        assert_eq!(codes, CURRENCIES);
    }
}
