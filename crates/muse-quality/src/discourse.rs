//! Order cues of English discourse: a paragraph does not open by pointing back (an anaphoric
//! pronoun or a linking connective such as "As a result" needs an earlier sentence), a concluding
//! marker ("Finally", "In conclusion") belongs near the end, and explicit ordinals run forwards.
//! These are the cohesive ties of Halliday & Hasan (1976, "Cohesion in English") that sentence
//! embeddings cannot see, because they are about order rather than content. Other languages get
//! no cues and score 1.

use crate::text::words;

/// Sentence openers that refer back to something said before.
const BACKWARD_OPENERS: &[&str] = &[
    "this",
    "these",
    "those",
    "it",
    "its",
    "they",
    "their",
    "them",
    "such",
    "he",
    "she",
    "his",
    "her",
    "however",
    "therefore",
    "thus",
    "hence",
    "then",
    "next",
    "also",
    "afterwards",
    "later",
    "moreover",
    "furthermore",
    "consequently",
    "instead",
    "meanwhile",
    "similarly",
    "likewise",
    "besides",
    "additionally",
    "otherwise",
    "finally",
    "lastly",
    "second",
    "secondly",
    "third",
    "thirdly",
    "eventually",
    "after this",
    "after that",
    "during this",
    "because of this",
    "as a result",
    "in addition",
    "for this reason",
    "on the other hand",
    "in the end",
    "at last",
    "by doing this",
    "in turn",
    "at that point",
    "at this point",
    "at that moment",
    "from there",
];

/// Markers that announce the end of a sequence or of the text.
const CONCLUDING: &[&str] = &[
    "finally",
    "lastly",
    "in conclusion",
    "to conclude",
    "in summary",
    "in the end",
    "at last",
    "to sum up",
];

/// Explicit ordinals and their rank.
const ORDINALS: &[(&str, u8)] = &[
    ("first", 1),
    ("firstly", 1),
    ("to begin", 1),
    ("second", 2),
    ("secondly", 2),
    ("third", 3),
    ("thirdly", 3),
    ("finally", 9),
    ("lastly", 9),
];

/// Whether the sentence's first words are `marker` (a word or a phrase), followed by a word
/// boundary.
fn opens_with(sentence_words: &[String], marker: &str) -> bool {
    let m: Vec<&str> = marker.split(' ').collect();
    sentence_words.len() >= m.len() && sentence_words.iter().zip(&m).all(|(w, m)| w == m)
}

/// Violations of the order cues in a sequence of sentences, and the score
/// `1 - violations / sentences`, in [0, 1]. One sentence or none: no order to judge, score 1.
pub fn discourse_order(sentences: &[&str]) -> (f64, usize) {
    let m = sentences.len();
    if m < 2 {
        return (1.0, 0);
    }
    let ws: Vec<Vec<String>> = sentences.iter().map(|s| words(s)).collect();
    let mut violations = 0;
    if BACKWARD_OPENERS.iter().any(|o| opens_with(&ws[0], o)) {
        violations += 1;
    }
    for w in &ws[..m.saturating_sub(2)] {
        if CONCLUDING.iter().any(|c| opens_with(w, c)) {
            violations += 1;
        }
    }
    let mut highest = 0u8;
    for w in &ws {
        if let Some(&(_, rank)) = ORDINALS.iter().find(|(o, _)| opens_with(w, o)) {
            if rank < highest {
                violations += 1;
            }
            highest = highest.max(rank);
        }
    }
    let score = 1.0 - (violations as f64 / m as f64).min(1.0);
    (score, violations)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_text_has_no_violations() {
        let s = [
            "Bread needs yeast.",
            "First, mix flour and water.",
            "Then knead it.",
            "Finally, bake it.",
        ];
        assert_eq!(discourse_order(&s), (1.0, 0));
    }

    #[test]
    fn misplaced_markers_are_counted() {
        // Opens by pointing back; "Finally" in the middle; "First" after "Finally".
        let s = [
            "Then knead it.",
            "Finally, bake it.",
            "First, mix flour and water.",
            "It is good.",
            "Eat it.",
        ];
        let (score, v) = discourse_order(&s);
        assert_eq!(v, 3);
        assert!((score - 0.4).abs() < 1e-12);
    }

    #[test]
    fn markers_match_whole_words_only() {
        // "Thistles" is not "this".
        assert_eq!(
            discourse_order(&["Thistles grow here.", "They are tall."]).1,
            0
        );
        assert_eq!(discourse_order(&["Single sentence only."]), (1.0, 0));
    }
}
