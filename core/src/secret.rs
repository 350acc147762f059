//! A string that must never be printed: API keys, signing secrets, bearer tokens.

use std::fmt;

/// A secret value (TrustPay API key or signing secret, intent key, bearer token).
///
/// `Debug` and `Display` print `[redacted]`, so a secret that ends up in a log line or an
/// error message by accident shows nothing. The only way to read it is [`Secret::expose`],
/// which is easy to grep for.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

/// Why a configured secret was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The value is empty or only whitespace: an unset secret must fail loudly, never sign with "".
    #[error("the secret is empty")]
    Empty,
}

impl Secret {
    /// Wraps a secret, refusing empty or whitespace-only values.
    pub fn new(value: impl Into<String>) -> Result<Self, SecretError> {
        let value = value.into();
        if value.trim().is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(Self(value))
    }

    /// The secret's text. Call it only where the secret is used (hashing, a header).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares with a presented value in constant time (for bearer tokens and the like).
    pub fn matches(&self, presented: &str) -> bool {
        crate::ct_eq(self.0.as_bytes(), presented.as_bytes())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_its_value() {
        let s = Secret::new("hunter2-very-secret").expect("non-empty");
        assert_eq!(format!("{s}"), "[redacted]");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2-very-secret");
    }

    #[test]
    fn refuses_empty() {
        assert_eq!(Secret::new(""), Err(SecretError::Empty));
        assert_eq!(Secret::new("  \n"), Err(SecretError::Empty));
    }

    #[test]
    fn matches_only_the_same_text() {
        let s = Secret::new("token-1").expect("non-empty");
        assert!(s.matches("token-1"));
        assert!(!s.matches("token-2"));
        assert!(!s.matches("token-1 "));
        assert!(!s.matches(""));
    }
}
