//! E-mail addresses: `local@domain.tld`, a pragmatic subset of RFC 5322 (no quoted local
//! parts, no IP-literal domains) that covers addresses as people write them in prose.

use regex::Regex;

use crate::SafetyError;

/// Local part starts with an alphanumeric; the domain has at least one dot and an
/// alphabetic TLD of 2–24 letters; labels do not start or end with `-`.
const PATTERN: &str =
    r"(?i)\b[a-z0-9][a-z0-9._%+-]{0,63}@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}\b";

pub(crate) struct EmailDetector {
    re: Regex,
}

impl EmailDetector {
    pub(crate) fn new() -> Result<Self, SafetyError> {
        Ok(Self {
            re: Regex::new(PATTERN).map_err(|e| SafetyError::pattern("pii.email", e))?,
        })
    }

    pub(crate) fn find(&self, text: &str) -> Vec<(usize, usize)> {
        self.re
            .find_iter(text)
            .filter(|m| !m.as_str().contains(".."))
            .map(|m| (m.start(), m.end()))
            .collect()
    }
}
