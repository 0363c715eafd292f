//! International Bank Account Numbers (ISO 13616): two-letter country code, two check
//! digits, then the national account number, written compact or in groups of four.
//!
//! A candidate is accepted when its length is the one registered for its country (for the
//! countries in [`iban_length`]; 15–34 characters for others) and the ISO 7064 mod-97 check
//! holds: moving the first four characters to the end and reading letters as 10–35, the
//! number modulo 97 is 1. Only upper-case IBANs are recognised, as they are printed.

use regex::Regex;

use super::bounds::isolated;
use crate::SafetyError;

const PATTERN: &str = r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b";

/// Registered IBAN length for common countries (SWIFT IBAN registry).
#[must_use]
pub fn iban_length(country: &str) -> Option<usize> {
    let len = match country {
        "NO" => 15,
        "BE" => 16,
        "DK" | "FI" | "NL" => 18,
        "SI" => 19,
        "AT" | "EE" | "LT" | "LU" => 20,
        "CH" | "HR" | "LI" | "LV" => 21,
        "BG" | "DE" | "GB" | "IE" => 22,
        "AE" | "IL" => 23,
        "AD" | "CZ" | "ES" | "RO" | "SA" | "SE" | "SK" => 24,
        "PT" => 25,
        "IS" | "TR" => 26,
        "FR" | "GR" | "IT" | "MC" | "SM" => 27,
        "CY" | "HU" | "PL" => 28,
        "BR" => 29,
        "MT" => 31,
        _ => return None,
    };
    Some(len)
}

/// The ISO 7064 MOD 97-10 check on a compact upper-case IBAN.
#[must_use]
pub fn iban_checksum_valid(compact: &str) -> bool {
    if compact.len() < 5
        || !compact
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return false;
    }
    let (head, tail) = compact.split_at(4);
    let mut rem: u32 = 0;
    for b in tail.bytes().chain(head.bytes()) {
        let v = if b.is_ascii_digit() {
            u32::from(b - b'0')
        } else {
            u32::from(b - b'A') + 10
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

pub(crate) struct IbanDetector {
    re: Regex,
}

impl IbanDetector {
    pub(crate) fn new() -> Result<Self, SafetyError> {
        Ok(Self {
            re: Regex::new(PATTERN).map_err(|e| SafetyError::pattern("pii.iban", e))?,
        })
    }

    pub(crate) fn find(&self, text: &str) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for m in self.re.find_iter(text) {
            let s = m.as_str();
            let expected = iban_length(&s[..2]);
            // Take exactly the registered number of characters: the regex may have run on
            // into a following upper-case word ("DE89 3704 ... 00 IS").
            let mut compact = String::new();
            let mut end = m.start();
            for (i, c) in s.char_indices() {
                if c == ' ' {
                    continue;
                }
                compact.push(c);
                end = m.start() + i + c.len_utf8();
                if Some(compact.len()) == expected {
                    break;
                }
            }
            let length_ok = match expected {
                Some(n) => compact.len() == n,
                None => (15..=34).contains(&compact.len()),
            };
            if length_ok && iban_checksum_valid(&compact) && isolated(text, m.start(), end) {
                out.push((m.start(), end));
            }
        }
        out
    }
}
