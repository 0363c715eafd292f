//! Phone numbers in three shapes:
//!
//! * **international**: `+` and a country code, then groups separated by spaces, dots or
//!   dashes (parenthesised area codes allowed); 8–15 digits in all (E.164 allows at most 15);
//! * **North American**: `(555) 123-4567`, `555-123-4567`, `555.123.4567`, `1-800-555-0199`
//!   — area code, exchange and line separated;
//! * **national with trunk prefix 0** (most of Europe): `020 7946 0958`, `06 12 34 56 78`,
//!   `030-1234567` — at least one separator, 10–11 digits.
//!
//! Separators are required for national numbers: a bare run of 10 digits is as likely an
//! order or account number. Dates (`2024-01-15`, `15.01.2024`), years and prices have too few
//! digits or the wrong grouping, and matches glued to longer numbers are rejected by
//! [`isolated`](super::bounds::isolated).

use regex::Regex;

use super::bounds::{char_before, digit_count, isolated};
use crate::SafetyError;

const INTERNATIONAL: &str = r"\+[1-9]\d{0,2}(?:[ .-]?(?:\(\d{1,4}\)|\d{1,5})){1,6}";
const NORTH_AMERICAN: &str = r"(?:\b1[ .-])?(?:\(\d{3}\)[ .-]?|\b\d{3}[ .-])\d{3}[ .-]\d{4}\b";
const TRUNK_ZERO: &str = r"\b0\d{1,4}(?:[ .-]\d{2,8}){1,4}\b";

pub(crate) struct PhoneDetector {
    international: Regex,
    north_american: Regex,
    trunk_zero: Regex,
}

impl PhoneDetector {
    pub(crate) fn new() -> Result<Self, SafetyError> {
        let re = |p| Regex::new(p).map_err(|e| SafetyError::pattern("pii.phone", e));
        Ok(Self {
            international: re(INTERNATIONAL)?,
            north_american: re(NORTH_AMERICAN)?,
            trunk_zero: re(TRUNK_ZERO)?,
        })
    }

    pub(crate) fn find(&self, text: &str) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for m in self.international.find_iter(text) {
            let digits = digit_count(m.as_str());
            if (8..=15).contains(&digits) && isolated(text, m.start(), m.end()) {
                out.push((m.start(), m.end()));
            }
        }
        let national = self
            .north_american
            .find_iter(text)
            .chain(self.trunk_zero.find_iter(text));
        for m in national {
            let digits = digit_count(m.as_str());
            let after_plus = char_before(text, m.start()) == Some('+');
            if (10..=11).contains(&digits) && !after_plus && isolated(text, m.start(), m.end()) {
                out.push((m.start(), m.end()));
            }
        }
        out
    }
}
