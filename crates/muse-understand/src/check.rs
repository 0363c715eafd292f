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

/// Cut `text` down to the asked maximum length, when it is over it: whole trailing sentences
/// (words, sentences), paragraphs or list items are dropped — never the first one — so what
/// remains ends cleanly. Texts within bounds, or without a maximum, come back unchanged.
pub fn fit_to_length(text: &str, c: &Constraints) -> String {
    let Some(l) = c.length else {
        return text.to_string();
    };
    let Some(max) = l.max else {
        return text.to_string();
    };
    if measure(text, l.unit) <= max {
        return text.to_string();
    }
    match l.unit {
        LengthUnit::Words | LengthUnit::Sentences => {
            let all = sentences(text);
            let mut keep = all.len();
            while keep > 1 && measure(&all[..keep].join(" "), l.unit) > max {
                keep -= 1;
            }
            all[..keep].join(" ")
        }
        LengthUnit::Paragraphs => text
            .split("\n\n")
            .filter(|p| !p.trim().is_empty())
            .take(max.max(1) as usize)
            .collect::<Vec<_>>()
            .join("\n\n"),
        LengthUnit::Items => {
            // Keep lines up to the max-th item line (text before the first item is kept).
            let mut items = 0;
            let mut out = Vec::new();
            for line in text.lines() {
                if list_items(line) == 1 {
                    items += 1;
                    if items > max {
                        break;
                    }
                }
                out.push(line);
            }
            if items == 0 {
                text.to_string()
            } else {
                out.join("\n")
            }
        }
    }
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
    fn over_long_texts_are_cut_at_boundaries() {
        let c = constraints(
            Some(Length {
                unit: LengthUnit::Words,
                min: None,
                max: Some(6),
            }),
            &[],
        );
        assert_eq!(
            fit_to_length("One two three. Four five six. Seven eight.", &c),
            "One two three. Four five six."
        );
        assert_eq!(fit_to_length("Short one.", &c), "Short one.");
        let c = constraints(
            Some(Length {
                unit: LengthUnit::Items,
                min: Some(2),
                max: Some(2),
            }),
            &[],
        );
        assert_eq!(
            fit_to_length("Quiz:\n1. A?\n2. B?\n3. C?", &c),
            "Quiz:\n1. A?\n2. B?"
        );
        let c = constraints(
            Some(Length {
                unit: LengthUnit::Sentences,
                min: Some(1),
                max: Some(1),
            }),
            &[],
        );
        assert_eq!(fit_to_length("First. Second.", &c), "First.");
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
