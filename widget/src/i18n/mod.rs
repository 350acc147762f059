//! Shopper-facing text: compile-time message tables, one file per locale.
//!
//! Two layers, both exhaustive `match`es without `_` arms:
//!
//! 1. [`Msg`] names *why* we say something: a widget state ([`Ui`]), an order state (the
//!    edge's `state`, not TrustPay's status: a short status 5 is `underpaid`, not paid), a
//!    TrustPay error code (880001-880024) or an edge error code, each including `Unknown`.
//!    [`phrase`] maps every one of them to a [`Phrase`], so a new state or code in
//!    `checkout-core` is a compile error here until someone decides what shoppers read.
//! 2. [`Phrase`] is *what* we say: 41 distinct shopper sentences, each with a short action
//!    where one exists. Each locale module is one `locale_table!` with an arm per phrase; the
//!    macro checks at compile time that every phrase is there (an exhaustive `match`) and in
//!    `Phrase` order (a `const` assertion), and stores the texts as one string per locale
//!    (15 × 41 `&str`s as separate pointers cost ~4.5 KB of wasm data for nothing).
//!
//! Many codes share a phrase on purpose: a shopper can't act on "database_error" versus
//! "remote_service_error", and one sentence per distinct action keeps all 15 locales at a
//! few KB gzip. The raw gateway `reason` text is never shown.
//!
//! en and zh-CN are first-class. The other locales are our own, unofficial translations
//! (marked in each file) until a native-speaking reviewer signs them off.
//! Merchants can override any text by key, see [`Msg::key`] and [`Phrase::key`].

use checkout_core::codes::ErrorCode;
use checkout_core::contract::ApiErrorCode;
use checkout_core::state::OrderState;

/// One locale's texts: `Variant => "text",` for every [`Phrase`], in order.
macro_rules! locale_table {
    ( $( $variant:ident => $text:literal, )+ ) => {
        /// Every phrase of this locale in [`super::Phrase`] order, each ended by U+001F.
        pub(super) const TABLE: &str = concat!( $( $text, "\u{1f}", )+ );

        /// Never called: the compiler rejects it if a phrase has no arm here.
        #[allow(dead_code)]
        fn exhaustive(phrase: super::Phrase) {
            match phrase {
                $( super::Phrase::$variant => {} )+
            }
        }

        // Entry n is phrase n; a reordered or duplicated entry stops the build.
        const _: () = {
            let order = [ $( super::Phrase::$variant as usize, )+ ];
            let mut i = 0;
            while i < order.len() {
                assert!(order[i] == i, "locale_table! entries must follow Phrase order");
                i += 1;
            }
        };
    };
}

mod ar;
mod de;
mod en;
mod es;
mod fr;
mod hi;
mod id;
mod ja;
mod ko;
mod pt_br;
mod ru;
mod tr;
mod vi;
mod zh_cn;
mod zh_tw;

/// A locale the widget ships text for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Locale {
    /// English (first-class, the last fallback).
    En,
    /// Simplified Chinese (first-class).
    ZhCn,
    /// Traditional Chinese (zh-TW, also used for zh-HK and zh-MO).
    ZhTw,
    /// Spanish.
    Es,
    /// French.
    Fr,
    /// German.
    De,
    /// Brazilian Portuguese (also used for other pt).
    PtBr,
    /// Japanese.
    Ja,
    /// Korean.
    Ko,
    /// Hindi.
    Hi,
    /// Arabic (right-to-left).
    Ar,
    /// Russian.
    Ru,
    /// Indonesian.
    Id,
    /// Turkish.
    Tr,
    /// Vietnamese.
    Vi,
}

impl Locale {
    /// Every locale, first-class ones first.
    pub const ALL: [Locale; 15] = [
        Locale::En,
        Locale::ZhCn,
        Locale::ZhTw,
        Locale::Es,
        Locale::Fr,
        Locale::De,
        Locale::PtBr,
        Locale::Ja,
        Locale::Ko,
        Locale::Hi,
        Locale::Ar,
        Locale::Ru,
        Locale::Id,
        Locale::Tr,
        Locale::Vi,
    ];

    /// The BCP 47 tag (also handed to `Intl.NumberFormat` and set as `lang`).
    pub fn tag(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::ZhCn => "zh-CN",
            Locale::ZhTw => "zh-TW",
            Locale::Es => "es",
            Locale::Fr => "fr",
            Locale::De => "de",
            Locale::PtBr => "pt-BR",
            Locale::Ja => "ja",
            Locale::Ko => "ko",
            Locale::Hi => "hi",
            Locale::Ar => "ar",
            Locale::Ru => "ru",
            Locale::Id => "id",
            Locale::Tr => "tr",
            Locale::Vi => "vi",
        }
    }

    /// Whether the script runs right to left (`dir="rtl"`).
    pub fn is_rtl(self) -> bool {
        matches!(self, Locale::Ar)
    }

    /// Every phrase of this locale in [`Phrase`] order, each ended by U+001F: the one string
    /// the wasm stores per locale (`cargo xtask bench` finds it there to measure its share).
    pub fn table(self) -> &'static str {
        match self {
            Locale::En => en::TABLE,
            Locale::ZhCn => zh_cn::TABLE,
            Locale::ZhTw => zh_tw::TABLE,
            Locale::Es => es::TABLE,
            Locale::Fr => fr::TABLE,
            Locale::De => de::TABLE,
            Locale::PtBr => pt_br::TABLE,
            Locale::Ja => ja::TABLE,
            Locale::Ko => ko::TABLE,
            Locale::Hi => hi::TABLE,
            Locale::Ar => ar::TABLE,
            Locale::Ru => ru::TABLE,
            Locale::Id => id::TABLE,
            Locale::Tr => tr::TABLE,
            Locale::Vi => vi::TABLE,
        }
    }

    /// The locale whose [`Locale::tag`] is exactly `tag`.
    pub fn from_tag(tag: &str) -> Option<Locale> {
        Locale::ALL.into_iter().find(|l| l.tag() == tag)
    }

    /// The table compiled into this build for this locale. The wasm widget compiles in English
    /// only; every other locale is a separate file that the boot glue fetches on demand and
    /// hands to each mount ([`Texts::new`]). Native builds (tests, `cargo xtask`) compile every
    /// table in.
    #[cfg(not(target_arch = "wasm32"))]
    fn built_in(self) -> Option<&'static str> {
        Some(self.table())
    }

    /// See the native version above: English only.
    #[cfg(target_arch = "wasm32")]
    fn built_in(self) -> Option<&'static str> {
        (self == Locale::En).then_some(en::TABLE)
    }

    /// The text of a phrase in this locale (English if this build lacks the locale's table).
    pub fn phrase_text(self, phrase: Phrase) -> &'static str {
        entry(self.built_in().unwrap_or(en::TABLE), phrase)
    }
}

/// Entry `phrase` of a table (`""` if the table lacks it; [`check`]ed tables never do): what
/// `table.split('\u{1f}').nth(phrase)` gives, by a byte loop (the char-pattern splitter is
/// ~0.6 KB of wasm; U+001F is one byte, so every cut is on a char boundary).
fn entry(table: &str, phrase: Phrase) -> &str {
    let mut skip = phrase as usize;
    let mut start = 0;
    for (i, byte) in table.bytes().enumerate() {
        if byte == 0x1f {
            if skip == 0 {
                return table.get(start..i).unwrap_or_default();
            }
            skip -= 1;
            start = i + 1;
        }
    }
    match skip {
        0 => table.get(start..).unwrap_or_default(),
        _ => "",
    }
}

/// The texts one widget shows: its locale's table, checked, or English.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Texts {
    locale: Locale,
    /// A fetched table; `None`: the locale's compiled-in one.
    fetched: Option<String>,
}

impl Texts {
    /// English, always built in.
    pub const EN: Texts = Texts {
        locale: Locale::En,
        fetched: None,
    };

    /// The texts for `locale`: `fetched` (its file's text) when it passes [`check`], else the
    /// table compiled in for `locale`, else English, whose locale (and so `lang` and `dir`)
    /// it then is.
    pub fn new(locale: Locale, fetched: Option<String>) -> Texts {
        match fetched {
            Some(table) if check(&table).is_ok() => Texts {
                locale,
                fetched: Some(table),
            },
            Some(_) | None if locale.built_in().is_some() => Texts {
                locale,
                fetched: None,
            },
            Some(_) | None => Texts::EN,
        }
    }

    /// The locale these texts are in.
    pub fn locale(&self) -> Locale {
        self.locale
    }

    /// The text of a phrase.
    pub fn phrase(&self, phrase: Phrase) -> &str {
        match &self.fetched {
            Some(table) => entry(table, phrase),
            None => self.locale.phrase_text(phrase),
        }
    }
}

/// Why a fetched locale table was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableError {
    /// The table does not hold exactly one U+001F-terminated entry per [`Phrase`].
    PhraseCount,
    /// The [`Phrase::PayAmount`] entry lacks its one `{amount}` placeholder.
    AmountPlaceholder,
}

/// Checks a fetched locale table (the exact [`Locale::table`] text, fetched as a file): a
/// table that would show wrong or missing text is refused, and the widget stays in English.
pub fn check(table: &str) -> Result<(), TableError> {
    let entries = table.bytes().filter(|b| *b == 0x1f).count();
    if entries != Phrase::ALL.len() || !table.ends_with('\u{1f}') {
        return Err(TableError::PhraseCount);
    }
    // A byte search, not `str::matches`: see [`with_amount`].
    let holes = entry(table, Phrase::PayAmount)
        .as_bytes()
        .windows(HOLE.len())
        .filter(|w| *w == HOLE)
        .count();
    if holes != 1 {
        return Err(TableError::AmountPlaceholder);
    }
    Ok(())
}

/// The widget's own states and controls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ui {
    /// The widget is starting (fetching an intent, restoring a session).
    Loading,
    /// Pay button with the formatted amount (`{amount}` placeholder).
    PayAmount,
    /// Pay button when the amount isn't known yet.
    PayNow,
    /// Creating the order at the edge.
    Creating,
    /// Opening or navigating to the pay page.
    Opening,
    /// The pay page is open; tracking the order.
    Waiting,
    /// The popup (and new tab) were blocked.
    PopupBlocked,
    /// The "reopen payment page" link.
    Reopen,
    /// The same link when nothing was opened yet (popup and tab blocked).
    OpenPage,
    /// The browser is offline.
    Offline,
    /// The wasm or its data couldn't load.
    LoadFailed,
    /// The edge could not be reached after retries.
    NetworkError,
    /// Tracking stopped after its maximum without a final status.
    StillProcessing,
    /// Resuming after a redirect: asking for the status.
    Checking,
    /// The retry button.
    Retry,
    /// The shopper closed the popup before a final status.
    WindowClosed,
    /// A final state, and the payment window could not be closed for the shopper.
    CloseHint,
}

impl Ui {
    /// Every widget message.
    pub const ALL: [Ui; 17] = [
        Ui::Loading,
        Ui::PayAmount,
        Ui::PayNow,
        Ui::Creating,
        Ui::Opening,
        Ui::Waiting,
        Ui::PopupBlocked,
        Ui::Reopen,
        Ui::OpenPage,
        Ui::Offline,
        Ui::LoadFailed,
        Ui::NetworkError,
        Ui::StillProcessing,
        Ui::Checking,
        Ui::Retry,
        Ui::WindowClosed,
        Ui::CloseHint,
    ];
}

/// Why the widget says something.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Msg {
    /// A widget state or control.
    Ui(Ui),
    /// An order state (`paid`, `underpaid`, ..., or unknown).
    State(OrderState),
    /// A TrustPay error code (880001-880024, or unknown).
    Gateway(ErrorCode),
    /// An edge error code (or unknown).
    Api(ApiErrorCode),
}

impl Msg {
    /// The most specific override key: `ui.waiting`, `state.paid`, `trustpay.880015`,
    /// `api.intent_expired`. (`messages: {"trustpay.880017": "..."}` in the JS options.)
    pub fn key(&self) -> String {
        match self {
            Msg::Ui(ui) => crate::cat(&["ui.", phrase(&Msg::Ui(*ui)).key()]),
            Msg::State(state) => crate::cat(&["state.", state.as_str()]),
            Msg::Gateway(code) => crate::cat(&["trustpay.", &crate::decimal(code.code())]),
            Msg::Api(code) => crate::cat(&["api.", code.as_str()]),
        }
    }
}

macro_rules! phrases {
    ( $( $(#[$doc:meta])* $variant:ident = $key:literal, )+ ) => {
        /// A distinct shopper sentence (what every locale translates).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum Phrase { $( $(#[$doc])* $variant, )+ }

        impl Phrase {
            /// Every phrase.
            pub const ALL: &'static [Phrase] = &[ $( Phrase::$variant, )+ ];

            /// The override key (`messages: {"declined": "..."}` replaces it for every code
            /// that maps to it).
            pub fn key(self) -> &'static str {
                match self { $( Phrase::$variant => $key, )+ }
            }
        }
    };
}

phrases! {
    /// Widget starting.
    Loading = "loading",
    /// "Pay {amount}".
    PayAmount = "pay_amount",
    /// "Pay now".
    PayNow = "pay_now",
    /// Creating the order.
    Creating = "creating",
    /// Opening the pay page.
    Opening = "opening",
    /// Waiting for the shopper to pay.
    Waiting = "waiting",
    /// Popup blocked.
    PopupBlocked = "popup_blocked",
    /// Reopen link.
    Reopen = "reopen",
    /// The link when nothing was opened yet.
    OpenPage = "open_page",
    /// Offline.
    Offline = "offline",
    /// Couldn't load.
    LoadFailed = "load_failed",
    /// Edge unreachable.
    NetworkError = "network_error",
    /// Still processing after the tracking maximum.
    StillProcessing = "still_processing",
    /// Checking status after a return.
    Checking = "checking",
    /// Retry button.
    Retry = "retry",
    /// Popup closed early.
    WindowClosed = "window_closed",
    /// The payment window stayed open at the end.
    CloseHint = "close_hint",
    /// State pending (status 1).
    Pending = "pending",
    /// States paid and settled (status 5, 6 with the full amount).
    Paid = "paid",
    /// State underpaid: status 5 or 6 with less than the order amount. Not paid.
    Underpaid = "underpaid",
    /// State failed (status 3).
    Failed = "failed",
    /// State expired (status 4).
    Expired = "expired",
    /// State refunded (status 7).
    Refunded = "refunded",
    /// State partially refunded (status 8).
    PartRefunded = "partially_refunded",
    /// State refunding (status 9).
    Refunding = "refunding",
    /// A state this build doesn't know (also status 2, a payout status on a pay-in order).
    StatusUnknown = "status_unknown",
    /// 880001 / 880010 (success codes, should not reach the shopper as errors).
    Accepted = "accepted",
    /// Merchant or integration misconfiguration.
    MerchantSetup = "merchant_setup",
    /// Transient trouble at the gateway or edge.
    ServiceTrouble = "service_trouble",
    /// No channel can take the payment.
    NoMethod = "no_method",
    /// Amount outside the allowed range.
    AmountNotAccepted = "amount_not_accepted",
    /// Amount not a valid number.
    AmountInvalid = "amount_invalid",
    /// Currency not supported.
    CurrencyUnsupported = "currency_unsupported",
    /// Declined (risk control, gateway refusal).
    Declined = "declined",
    /// Too many card failures.
    TooManyAttempts = "too_many_attempts",
    /// Account or daily limits.
    LimitReached = "limit_reached",
    /// The order number exists already.
    OrderExists = "order_exists",
    /// Intent expired.
    SessionExpired = "session_expired",
    /// Unknown order or secret.
    OrderNotFound = "order_not_found",
    /// Rate limited.
    RateLimited = "rate_limited",
    /// Anything else.
    Generic = "generic",
}

/// What shoppers read for `msg`. Exhaustive: no `_` arms anywhere.
pub fn phrase(msg: &Msg) -> Phrase {
    match msg {
        Msg::Ui(ui) => ui_phrase(*ui),
        Msg::State(state) => state_phrase(*state),
        Msg::Gateway(code) => gateway_phrase(*code),
        Msg::Api(code) => api_phrase(code),
    }
}

fn ui_phrase(ui: Ui) -> Phrase {
    match ui {
        Ui::Loading => Phrase::Loading,
        Ui::PayAmount => Phrase::PayAmount,
        Ui::PayNow => Phrase::PayNow,
        Ui::Creating => Phrase::Creating,
        Ui::Opening => Phrase::Opening,
        Ui::Waiting => Phrase::Waiting,
        Ui::PopupBlocked => Phrase::PopupBlocked,
        Ui::Reopen => Phrase::Reopen,
        Ui::OpenPage => Phrase::OpenPage,
        Ui::Offline => Phrase::Offline,
        Ui::LoadFailed => Phrase::LoadFailed,
        Ui::NetworkError => Phrase::NetworkError,
        Ui::StillProcessing => Phrase::StillProcessing,
        Ui::Checking => Phrase::Checking,
        Ui::Retry => Phrase::Retry,
        Ui::WindowClosed => Phrase::WindowClosed,
        Ui::CloseHint => Phrase::CloseHint,
    }
}

fn state_phrase(state: OrderState) -> Phrase {
    match state {
        OrderState::Pending => Phrase::Pending,
        OrderState::Paid | OrderState::Settled => Phrase::Paid,
        OrderState::Underpaid => Phrase::Underpaid,
        OrderState::Failed => Phrase::Failed,
        OrderState::Expired => Phrase::Expired,
        OrderState::Refunded => Phrase::Refunded,
        OrderState::PartiallyRefunded => Phrase::PartRefunded,
        OrderState::Refunding => Phrase::Refunding,
        OrderState::Unknown => Phrase::StatusUnknown,
    }
}

fn gateway_phrase(code: ErrorCode) -> Phrase {
    use ErrorCode as E;
    match code {
        E::Success | E::BackendSuccess => Phrase::Accepted,
        // The merchant's integration or account is wrong; the shopper can only tell them.
        E::BadRequest
        | E::InsufficientBalance
        | E::InvalidTransactionType
        | E::DecreasePayoutAmountFailed
        | E::Unauthorized
        | E::ChannelConfigurationError => Phrase::MerchantSetup,
        // Transient trouble at TrustPay.
        E::DatabaseError
        | E::RemoteServiceError
        | E::SystemInternalError
        | E::OrderProcessingFailed
        | E::InternalError => Phrase::ServiceTrouble,
        E::OrderAlreadyExists => Phrase::OrderExists,
        E::AllChannelsFailed | E::ChannelQuotaLimitExceeded | E::NoChannelAvailable => {
            Phrase::NoMethod
        }
        E::AmountRuleViolation | E::TransactionAmountLimitExceeded => Phrase::AmountNotAccepted,
        E::UserRiskControlFailed => Phrase::Declined,
        E::CardFailureLimitExceeded => Phrase::TooManyAttempts,
        E::AccountLimitExceeded
        | E::DailyAmountLimitExceeded
        | E::DailyTransactionCountLimitExceeded => Phrase::LimitReached,
        E::Unknown(_) => Phrase::Generic,
    }
}

fn api_phrase(code: &ApiErrorCode) -> Phrase {
    use ApiErrorCode as A;
    match code {
        // Integration mistakes: the page, intent or edge configuration is wrong.
        A::BadRequest
        | A::BodyTooLarge
        | A::UnsupportedMediaType
        | A::NotFound
        | A::MethodNotAllowed
        | A::Unauthorized
        | A::OriginNotAllowed
        | A::OrderNoInvalid
        | A::IntentMissing
        | A::IntentMalformed
        | A::IntentVersion
        | A::IntentBadSignature
        | A::IntentInvalid
        | A::AmountNotAllowed
        | A::Misconfigured => Phrase::MerchantSetup,
        // Server-to-server codes a shopper never causes; still worded, never raw.
        A::CallbackMalformed
        | A::CallbackUnsigned
        | A::CallbackBadSignature
        | A::CallbackInvalid
        | A::CallbackUnknownOrder
        | A::CallbackOrderMismatch
        | A::RefundNotAllowed
        | A::IdempotencyKeyRequired => Phrase::MerchantSetup,
        // Our order number is someone else's order at TrustPay: only the merchant can fix it.
        A::OrderNumberTaken => Phrase::MerchantSetup,
        A::AttemptLimit => Phrase::TooManyAttempts,
        // Paid already or still running: the status shows which.
        A::AttemptNotAllowed => Phrase::OrderExists,
        A::AmountMissing
        | A::AmountNegative
        | A::AmountZero
        | A::AmountTooPrecise
        | A::AmountMalformed => Phrase::AmountInvalid,
        A::AmountTooLarge => Phrase::AmountNotAccepted,
        A::CurrencyUnsupported => Phrase::CurrencyUnsupported,
        A::IntentExpired => Phrase::SessionExpired,
        A::OrderNotFound | A::ClientSecretInvalid => Phrase::OrderNotFound,
        // Retried by the widget first; shown only if it persists.
        A::OrderInProgress => Phrase::Creating,
        A::GatewayRejected => Phrase::Declined,
        A::GatewayUnavailable | A::GatewayError | A::Internal => Phrase::ServiceTrouble,
        A::RateLimited => Phrase::RateLimited,
        A::Unknown(_) => Phrase::Generic,
    }
}

/// The text for `msg` in `locale` (no overrides; see [`Overrides`]).
pub fn text(locale: Locale, msg: &Msg) -> &'static str {
    locale.phrase_text(phrase(msg))
}

/// Merchant overrides (`messages` option): key → text. Looked up by the specific
/// [`Msg::key`] first, then by the [`Phrase::key`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides(Vec<(String, String)>);

impl Overrides {
    /// Builds from key/text pairs; empty texts are ignored (they would blank the widget).
    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        Overrides(
            pairs
                .into_iter()
                .filter(|(_, v)| !v.trim().is_empty())
                .collect(),
        )
    }

    /// The text for `msg`: an override if one matches, else the locale's table.
    pub fn text(&self, locale: Locale, msg: &Msg) -> String {
        if self.0.is_empty() {
            return text(locale, msg).to_owned();
        }
        text_with(&Texts::new(locale, None), msg, |key| {
            self.0
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        })
    }
}

/// The text for `msg` in `texts`, or the override `lookup` finds for it: by the specific
/// [`Msg::key`] first, then by the [`Phrase::key`]. An empty (or blank) override is no
/// override: it would blank the widget. The wasm widget looks the keys up in the merchant's
/// `messages` object itself; [`Overrides`] is the same rule over pairs.
pub fn text_with(texts: &Texts, msg: &Msg, lookup: impl Fn(&str) -> Option<String>) -> String {
    let found = |key: &str| lookup(key).filter(|v| !v.trim().is_empty());
    found(&msg.key())
        .or_else(|| found(phrase(msg).key()))
        .unwrap_or_else(|| texts.phrase(phrase(msg)).to_owned())
}

/// The placeholder [`Phrase::PayAmount`] carries.
const HOLE: &[u8] = b"{amount}";

/// Fills the `{amount}` placeholder of [`Phrase::PayAmount`].
pub fn with_amount(template: &str, amount: &str) -> String {
    // A byte search, not `str::replacen`: the generic substring searcher is ~2 KB of wasm.
    match template
        .as_bytes()
        .windows(HOLE.len())
        .position(|w| w == HOLE)
    {
        // `get`, not indexing: no panic path (and no panic-message formatting code).
        Some(at) => match (template.get(..at), template.get(at + HOLE.len()..)) {
            (Some(head), Some(tail)) => crate::cat(&[head, amount, tail]),
            _ => template.to_owned(),
        },
        None => template.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cat;

    fn all_msgs() -> Vec<Msg> {
        let mut msgs: Vec<Msg> = Ui::ALL.iter().map(|u| Msg::Ui(*u)).collect();
        msgs.extend(OrderState::ALL.iter().map(|s| Msg::State(*s)));
        msgs.extend(ErrorCode::KNOWN.iter().map(|c| Msg::Gateway(*c)));
        msgs.push(Msg::Gateway(ErrorCode::Unknown(880099)));
        msgs.extend(ApiErrorCode::KNOWN.iter().map(|c| Msg::Api(c.clone())));
        msgs.push(Msg::Api(ApiErrorCode::Unknown("brand_new".into())));
        msgs
    }

    #[test]
    fn every_locale_phrase_pair_is_nonempty_and_not_the_key() {
        let mut pairs = 0;
        for locale in Locale::ALL {
            for &p in Phrase::ALL {
                let text = locale.phrase_text(p);
                assert!(!text.trim().is_empty(), "{locale:?} {p:?} is empty");
                assert_ne!(text, p.key(), "{locale:?} {p:?} is its key");
                assert_ne!(
                    text,
                    format!("{p:?}"),
                    "{locale:?} {p:?} is its variant name"
                );
                assert!(
                    !text.contains('_'),
                    "{locale:?} {p:?} looks like a code: {text}"
                );
                pairs += 1;
            }
        }
        assert_eq!(pairs, 15 * 41);
        for locale in Locale::ALL {
            // 41 entries, each terminated: nothing trails the last separator.
            assert_eq!(
                locale.table().matches('\u{1f}').count(),
                Phrase::ALL.len(),
                "{locale:?}"
            );
            assert!(locale.table().ends_with('\u{1f}'));
        }
    }

    #[test]
    fn every_msg_in_every_locale_has_text() {
        let msgs = all_msgs();
        // 17 widget + 10 states + 25 TrustPay codes + every edge code + unknown.
        assert_eq!(msgs.len(), 17 + 10 + 25 + ApiErrorCode::KNOWN.len() + 1);
        for locale in Locale::ALL {
            for msg in &msgs {
                let t = text(locale, msg);
                assert!(!t.is_empty(), "{locale:?} {msg:?}");
                assert_ne!(t, msg.key(), "{locale:?} {msg:?}");
            }
        }
    }

    #[test]
    fn statuses_and_codes_have_the_intended_meaning() {
        assert_eq!(phrase(&Msg::State(OrderState::Paid)), Phrase::Paid);
        assert_eq!(phrase(&Msg::State(OrderState::Settled)), Phrase::Paid);
        assert_eq!(
            phrase(&Msg::State(OrderState::Underpaid)),
            Phrase::Underpaid
        );
        assert_eq!(phrase(&Msg::State(OrderState::Expired)), Phrase::Expired);
        assert_eq!(
            phrase(&Msg::State(OrderState::Unknown)),
            Phrase::StatusUnknown
        );
        assert_eq!(
            phrase(&Msg::Gateway(ErrorCode::UserRiskControlFailed)),
            Phrase::Declined
        );
        assert_eq!(
            phrase(&Msg::Gateway(ErrorCode::CardFailureLimitExceeded)),
            Phrase::TooManyAttempts
        );
        assert_eq!(
            phrase(&Msg::Gateway(ErrorCode::Unknown(1))),
            Phrase::Generic
        );
        assert_eq!(
            phrase(&Msg::Api(ApiErrorCode::IntentExpired)),
            Phrase::SessionExpired
        );
        assert_eq!(
            phrase(&Msg::Api(ApiErrorCode::RateLimited)),
            Phrase::RateLimited
        );
        assert_eq!(
            phrase(&Msg::Api(ApiErrorCode::Unknown("x".into()))),
            Phrase::Generic
        );
        // Every phrase is reachable from some message (no dead translations).
        let used: std::collections::HashSet<Phrase> = all_msgs().iter().map(phrase).collect();
        for &p in Phrase::ALL {
            assert!(used.contains(&p), "{p:?} is never shown");
        }
    }

    #[test]
    fn shopper_text_never_leaks_codes_or_english_in_first_class_zh() {
        for &p in Phrase::ALL {
            let zh = Locale::ZhCn.phrase_text(p).replace("{amount}", "");
            assert!(
                !zh.chars().any(|c| c.is_ascii_alphabetic()),
                "zh-CN {p:?} has Latin letters: {zh}"
            );
            assert_ne!(Locale::ZhCn.phrase_text(p), Locale::En.phrase_text(p));
        }
    }

    #[test]
    fn pay_amount_keeps_its_placeholder_everywhere() {
        for locale in Locale::ALL {
            let t = locale.phrase_text(Phrase::PayAmount);
            assert_eq!(t.matches("{amount}").count(), 1, "{locale:?}");
            assert!(!with_amount(t, "$5.00").contains('{'));
        }
        assert_eq!(with_amount("Pay {amount}", "₹100.00"), "Pay ₹100.00");
    }

    #[test]
    fn phrase_keys_are_unique() {
        let mut keys: Vec<&str> = Phrase::ALL.iter().map(|p| p.key()).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), Phrase::ALL.len());
        assert_eq!(Phrase::ALL.len(), 41);
    }

    #[test]
    fn overrides_specific_key_beats_phrase_key() {
        let o = Overrides::new([
            ("declined".to_owned(), "Card says no.".to_owned()),
            (
                "trustpay.880017".to_owned(),
                "Risk check failed.".to_owned(),
            ),
            ("ui.waiting".to_owned(), "  ".to_owned()),
        ]);
        assert_eq!(
            o.text(Locale::En, &Msg::Gateway(ErrorCode::UserRiskControlFailed)),
            "Risk check failed."
        );
        assert_eq!(
            o.text(Locale::En, &Msg::Api(ApiErrorCode::GatewayRejected)),
            "Card says no."
        );
        // Blank overrides are ignored.
        assert_eq!(
            o.text(Locale::En, &Msg::Ui(Ui::Waiting)),
            Locale::En.phrase_text(Phrase::Waiting)
        );
        assert_eq!(Msg::State(OrderState::Paid).key(), "state.paid");
        assert_eq!(Msg::State(OrderState::Underpaid).key(), "state.underpaid");
        assert_eq!(
            Msg::Api(ApiErrorCode::IntentExpired).key(),
            "api.intent_expired"
        );
        assert_eq!(Msg::Ui(Ui::PopupBlocked).key(), "ui.popup_blocked");
    }

    #[test]
    fn entry_is_the_split_piece() {
        for table in [
            "",
            "a",
            "a\u{1f}",
            "a\u{1f}b",
            "\u{1f}\u{1f}x\u{1f}",
            "é\u{1f}ü\u{1f}",
        ] {
            for &p in Phrase::ALL.iter().take(5) {
                let want = table.split('\u{1f}').nth(p as usize).unwrap_or_default();
                assert_eq!(entry(table, p), want, "{table:?} {p:?}");
            }
        }
    }

    #[test]
    fn texts_take_a_shipped_table_and_refuse_broken_ones() {
        for locale in Locale::ALL {
            assert_eq!(Locale::from_tag(locale.tag()), Some(locale));
            assert_eq!(check(locale.table()), Ok(()));
            let texts = Texts::new(locale, Some(locale.table().to_owned()));
            assert_eq!(texts.locale(), locale);
            for &p in Phrase::ALL {
                assert_eq!(texts.phrase(p), locale.phrase_text(p), "{locale:?} {p:?}");
            }
            assert_eq!(
                Texts::new(locale, None).locale(),
                locale,
                "native builds carry every table"
            );
        }
        assert_eq!(Locale::from_tag("de-DE"), None);
        let de = Locale::De.table();
        // One entry short, one too many, or cut off mid-entry.
        let short = de
            .strip_suffix("\u{1f}")
            .and_then(|t| t.rsplit_once('\u{1f}'));
        let short = short
            .map(|(head, _)| cat(&[head, "\u{1f}"]))
            .expect("41 entries");
        assert_eq!(check(&short), Err(TableError::PhraseCount));
        assert_eq!(
            check(&cat(&[de, "extra\u{1f}"])),
            Err(TableError::PhraseCount)
        );
        assert_eq!(check(&cat(&[de, "cut"])), Err(TableError::PhraseCount));
        assert_eq!(
            check(&de.replacen("{amount}", "{betrag}", 1)),
            Err(TableError::AmountPlaceholder)
        );
        assert_eq!(
            check(&de.replacen("{amount}", "{amount}{amount}", 1)),
            Err(TableError::AmountPlaceholder)
        );
        // A refused table: the compiled-in one where there is one (native), its text intact.
        let refused = Texts::new(Locale::De, Some(short));
        assert_eq!(
            refused.phrase(Phrase::PayNow),
            Locale::De.phrase_text(Phrase::PayNow)
        );
    }

    /// The first sentence (or CJK clause): the part that says what happened.
    fn statement(text: &str) -> String {
        let end = text
            .find(['.', '!', '?', '。', '！', '？', '，', '।'])
            .unwrap_or(text.len());
        text.get(..end).unwrap_or(text).trim().to_lowercase()
    }

    #[test]
    fn money_outcomes_never_read_alike() {
        // Each says something different about the shopper's money; a shopper who can't tell
        // two of them apart may wait for goods that won't come, pay twice, or give up on a
        // paid order.
        const MONEY: [Phrase; 6] = [
            Phrase::Paid,
            Phrase::Underpaid,
            Phrase::Accepted,
            Phrase::StatusUnknown,
            Phrase::Expired,
            Phrase::SessionExpired,
        ];
        let mut clashes = Vec::new();
        for locale in Locale::ALL {
            for (i, &a) in MONEY.iter().enumerate() {
                for &b in &MONEY[i + 1..] {
                    let (ta, tb) = (locale.phrase_text(a), locale.phrase_text(b));
                    if ta == tb || statement(ta) == statement(tb) {
                        clashes.push(format!("{locale:?} {a:?} = {b:?}: {ta} / {tb}"));
                    }
                }
            }
        }
        assert!(clashes.is_empty(), "{}", clashes.join("\n"));
        assert_eq!(statement("付款成功，谢谢！"), "付款成功");
        assert_eq!(
            statement("Payment received. Thank you!"),
            "payment received"
        );
    }

    #[test]
    fn rtl_is_arabic_only() {
        for locale in Locale::ALL {
            assert_eq!(locale.is_rtl(), locale == Locale::Ar);
        }
    }
}
