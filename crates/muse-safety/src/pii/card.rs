//! Payment card numbers: 13–19 digits, optionally grouped with single spaces or dashes,
//! accepted only when the Luhn checksum (ISO/IEC 7812-1) holds — which rejects nine in ten
//! random digit strings — and not all one digit (`0000 0000 0000 0000` passes Luhn).

use regex::Regex;

use super::bounds::{char_before, isolated};
use crate::SafetyError;

const PATTERN: &str = r"\b\d(?:[ -]?\d){12,18}\b";

pub(crate) struct CardDetector {
    re: Regex,
}

impl CardDetector {
    pub(crate) fn new() -> Result<Self, SafetyError> {
        Ok(Self {
            re: Regex::new(PATTERN).map_err(|e| SafetyError::pattern("pii.card", e))?,
        })
    }

    pub(crate) fn find(&self, text: &str) -> Vec<(usize, usize)> {
        self.re
            .find_iter(text)
            .filter(|m| {
                let digits: Vec<u8> = m
                    .as_str()
                    .bytes()
                    .filter(u8::is_ascii_digit)
                    .map(|b| b - b'0')
                    .collect();
                let all_same = digits.iter().all(|&d| Some(&d) == digits.first());
                char_before(text, m.start()) != Some('+')
                    && !all_same
                    && luhn_valid(&digits)
                    && isolated(text, m.start(), m.end())
            })
            .map(|m| (m.start(), m.end()))
            .collect()
    }
}

/// The Luhn check: from the rightmost digit, double every second digit (subtracting 9 when
/// the double exceeds 9); the sum must be a multiple of 10.
#[must_use]
pub fn luhn_valid(digits: &[u8]) -> bool {
    if digits.is_empty() || digits.iter().any(|&d| d > 9) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let dd = d * 2;
                if dd > 9 { dd - 9 } else { dd }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}
