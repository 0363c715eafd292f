//! Checks a finished text against the request's constraints: its length within ±20% of the
//! asked bounds, and every required keyword present (case-insensitive).

use crate::types::{Constraints, LengthUnit};
use muse_quality::text::{sentences, words};
use serde::Serialize;

/// Tolerance on lengths: a text passes within 20% below the minimum or above the maximum.
pub const LENGTH_TOLERANCE: f64 = 0.2;

/// The outcome of [`check_constraints`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckReport {
    /// The text's length in the asked unit (`null` when no length was asked).
    pub measured_length: Option<u32>,
    pub length_ok: bool,
    pub missing_keywords: Vec<String>,
    pub passed: bool,
}

/// Lines that start like list items ("- ", "* ", "• ", "1. ", "2) ").
fn list_items(text: &str) -> usize {
    text.lines()
        .filter(|l| {
            let t = l.trim_start();
            let numbered = t.split_once(['.', ')', '、']).is_some_and(|(n, _)| {
                (1..=3).contains(&n.len()) && n.chars().all(|c| c.is_ascii_digit())
            });
            t.starts_with("- ") || t.starts_with("* ") || t.starts_with("• ") || numbered
        })
        .count()
}

/// The length of `text` in `unit`.
pub fn measure(text: &str, unit: LengthUnit) -> u32 {
    let n = match unit {
        // Words: whitespace-separated words, and each CJK character as one (as `words` counts).
        LengthUnit::Words => words(text).len(),
        LengthUnit::Sentences => sentences(text).len(),
        LengthUnit::Paragraphs => text.split("\n\n").filter(|p| !p.trim().is_empty()).count(),
        LengthUnit::Items => {
            let listed = list_items(text);
            if listed > 0 {
                listed
            } else {
                // Unlisted items: questions by their marks, else one per non-empty line.
                let q = text.matches(['?', '？']).count();
                if q > 0 {
                    q
                } else {
                    text.lines().filter(|l| !l.trim().is_empty()).count()
                }
            }
        }
    };
    n as u32
}

/// Check `text` against `c`.
pub fn check_constraints(text: &str, c: &Constraints) -> CheckReport {
    let (measured, length_ok) = match c.length {
        None => (None, true),
        Some(l) => {
            let m = measure(text, l.unit);
            let lo = l.min.map_or(0.0, |v| v as f64 * (1.0 - LENGTH_TOLERANCE));
            let hi = l
                .max
                .map_or(f64::INFINITY, |v| v as f64 * (1.0 + LENGTH_TOLERANCE));
            (Some(m), (m as f64) >= lo.floor() && (m as f64) <= hi.ceil())
        }
    };
    let lower = text.to_lowercase();
    let missing: Vec<String> = c
        .keywords
        .iter()
        .filter(|k| !lower.contains(&k.to_lowercase()))
        .cloned()
        .collect();
    CheckReport {
        measured_length: measured,
        length_ok,
        passed: length_ok && missing.is_empty(),
        missing_keywords: missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Format, Length};

    fn constraints(length: Option<Length>, keywords: &[&str]) -> Constraints {
        Constraints {
            length,
            tone: None,
            audience: None,
            language: "en".into(),
            keywords: keywords.iter().map(|s| s.to_string()).collect(),
            format: Format::Plain,
        }
    }

    #[test]
    fn word_limits_allow_twenty_percent() {
        let c = constraints(
            Some(Length {
                unit: LengthUnit::Words,
                min: None,
                max: Some(10),
            }),
            &[],
        );
        assert!(check_constraints(&"word ".repeat(12), &c).passed);
        assert!(!check_constraints(&"word ".repeat(13), &c).passed);
        assert_eq!(
            check_constraints(&"word ".repeat(13), &c).measured_length,
            Some(13)
        );
    }

    #[test]
    fn items_sentences_and_keywords() {
        let c = constraints(
            Some(Length {
                unit: LengthUnit::Items,
                min: Some(3),
                max: Some(3),
            }),
            &["Water"],
        );
        let text = "1. What is water?\n2. Where does rain form?\n3. Why do clouds move?";
        let r = check_constraints(text, &c);
        assert_eq!(r.measured_length, Some(3));
        assert!(r.passed, "{r:?}");
        let r = check_constraints("- one\n- two", &c);
        assert!(!r.length_ok || r.missing_keywords == ["Water"]);
        assert_eq!(r.missing_keywords, ["Water"]);
        let c = constraints(
            Some(Length {
                unit: LengthUnit::Sentences,
                min: Some(2),
                max: Some(2),
            }),
            &[],
        );
        assert!(check_constraints("One. Two.", &c).passed);
        assert!(!check_constraints("One. Two. Three. Four.", &c).passed);
    }
}
