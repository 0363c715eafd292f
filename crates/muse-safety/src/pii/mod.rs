//! Personal data: detection and redaction of e-mail addresses, phone numbers, payment card
//! numbers, IBANs and IP addresses.
//!
//! Every detector is a candidate regex followed by a validation a regex cannot do (Luhn,
//! mod-97, octet range, digit counts, token boundaries), so near misses — an invalid card
//! number, a date, a price, `999.1.1.1` — are not redacted. Each detector's file documents
//! the shapes it accepts.
//!
//! When matches overlap, the more specific kind wins, in the order e-mail, IBAN, card, IP,
//! phone (a card number is also a long digit run a phone pattern might take).

mod bounds;
mod card;
mod email;
mod iban;
mod ip;
mod phone;

use serde::{Deserialize, Serialize};

pub use card::luhn_valid;
pub use iban::{iban_checksum_valid, iban_length};

use crate::filter::is_blank;
use crate::scoring::{CategorySetting, Hit, assemble};
use crate::{Action, ContentFilter, Finding, SafetyError, Stage, Verdict};

/// The category [`PiiFilter`] reports.
pub const PERSONAL_DATA: &str = "personal_data";

/// The kinds of personal data detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PiiKind {
    /// An e-mail address.
    Email,
    /// An IBAN.
    Iban,
    /// A Luhn-valid payment card number.
    Card,
    /// An IPv4 or IPv6 address.
    Ip,
    /// A phone number.
    Phone,
}

impl PiiKind {
    /// All kinds, in priority order (earlier wins on overlap).
    pub const ALL: [Self; 5] = [Self::Email, Self::Iban, Self::Card, Self::Ip, Self::Phone];

    /// The typed placeholder that replaces a match, e.g. `[EMAIL]`.
    #[must_use]
    pub fn placeholder(self) -> &'static str {
        match self {
            Self::Email => "[EMAIL]",
            Self::Iban => "[IBAN]",
            Self::Card => "[CARD]",
            Self::Ip => "[IP]",
            Self::Phone => "[PHONE]",
        }
    }

    /// The rule id findings carry, e.g. `pii.email`.
    #[must_use]
    pub fn rule(self) -> &'static str {
        match self {
            Self::Email => "pii.email",
            Self::Iban => "pii.iban",
            Self::Card => "pii.card",
            Self::Ip => "pii.ip",
            Self::Phone => "pii.phone",
        }
    }
}

/// One detected piece of personal data: its kind and byte range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PiiMatch {
    /// What was found.
    pub kind: PiiKind,
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset one past the last byte.
    pub end: usize,
}

/// The compiled detectors, usable on their own (the policy filter feeds its
/// `personal_data` category from them).
pub struct PiiDetector {
    email: email::EmailDetector,
    iban: iban::IbanDetector,
    card: card::CardDetector,
    ip: ip::IpDetector,
    phone: phone::PhoneDetector,
}

impl PiiDetector {
    /// Compiles the detectors.
    ///
    /// # Errors
    /// Only if a built-in pattern fails to compile (a bug, reported rather than panicking).
    pub fn new() -> Result<Self, SafetyError> {
        Ok(Self {
            email: email::EmailDetector::new()?,
            iban: iban::IbanDetector::new()?,
            card: card::CardDetector::new()?,
            ip: ip::IpDetector::new()?,
            phone: phone::PhoneDetector::new()?,
        })
    }

    /// All non-overlapping matches of the enabled `kinds`, in text order.
    #[must_use]
    pub fn detect(&self, text: &str, kinds: &[PiiKind]) -> Vec<PiiMatch> {
        let mut accepted: Vec<PiiMatch> = Vec::new();
        for kind in PiiKind::ALL {
            if !kinds.contains(&kind) {
                continue;
            }
            let spans = match kind {
                PiiKind::Email => self.email.find(text),
                PiiKind::Iban => self.iban.find(text),
                PiiKind::Card => self.card.find(text),
                PiiKind::Ip => self.ip.find(text),
                PiiKind::Phone => self.phone.find(text),
            };
            for (start, end) in spans {
                let overlaps = accepted.iter().any(|a| start < a.end && a.start < end);
                if !overlaps {
                    accepted.push(PiiMatch { kind, start, end });
                }
            }
        }
        accepted.sort_by_key(|m| (m.start, m.end));
        accepted
    }
}

/// Settings of [`PiiFilter`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PiiConfig {
    /// The kinds to detect (default: all).
    pub kinds: Vec<PiiKind>,
    /// Each match scores 1.0, so any threshold in `(0, 1]` triggers on one match.
    pub threshold: f32,
    /// What a triggered `personal_data` category asks for (default: redact).
    pub action: Action,
}

impl Default for PiiConfig {
    fn default() -> Self {
        Self {
            kinds: PiiKind::ALL.to_vec(),
            threshold: 0.5,
            action: Action::Redact,
        }
    }
}

/// Detects personal data and, by default, redacts it with typed placeholders
/// (`[EMAIL]`, `[PHONE]`, `[CARD]`, `[IBAN]`, `[IP]`) under the category `personal_data`.
pub struct PiiFilter {
    detector: PiiDetector,
    config: PiiConfig,
}

impl PiiFilter {
    /// Builds the filter.
    ///
    /// # Errors
    /// [`SafetyError::InvalidConfig`] for a threshold outside `[0, 1]`.
    pub fn new(config: PiiConfig) -> Result<Self, SafetyError> {
        crate::config::check_threshold("pii.threshold", config.threshold)?;
        Ok(Self {
            detector: PiiDetector::new()?,
            config,
        })
    }

    /// The matches in `text`, without scoring.
    #[must_use]
    pub fn detect(&self, text: &str) -> Vec<PiiMatch> {
        self.detector.detect(text, &self.config.kinds)
    }
}

/// Converts detector matches into scored hits in `category`.
pub(crate) fn hits_from_matches(text: &str, matches: &[PiiMatch], category: &str) -> Vec<Hit> {
    matches
        .iter()
        .map(|m| Hit {
            finding: Finding {
                category: category.to_owned(),
                start: m.start,
                end: m.end,
                matched: text[m.start..m.end].to_owned(),
                rule: m.kind.rule().to_owned(),
                replacement: Some(m.kind.placeholder().to_owned()),
            },
            weight: 1.0,
        })
        .collect()
}

impl ContentFilter for PiiFilter {
    fn name(&self) -> &str {
        "pii"
    }

    fn check_text(&self, text: &str, _stage: Stage) -> Result<Verdict, SafetyError> {
        if is_blank(text) {
            return Ok(Verdict::allow());
        }
        let hits = hits_from_matches(text, &self.detect(text), PERSONAL_DATA);
        let setting = CategorySetting {
            threshold: self.config.threshold,
            action: self.config.action,
        };
        Ok(assemble(text, hits, |_| setting))
    }
}
