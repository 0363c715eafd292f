//! Retrieval evaluation: recall@k and mean reciprocal rank (MRR) over questions that each name
//! the file and a verbatim passage answering them. A result is relevant when it comes from that
//! file and its character range covers at least half of the passage (passages are matched with
//! whitespace runs folded, so hard-wrapped text matches a one-line passage).

use crate::Hit;
use std::ops::Range;

#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct Question {
    pub question: String,
    /// File name (or path suffix) of the source document.
    pub source: String,
    /// A verbatim passage of the source that answers the question.
    pub answer: String,
}

/// Character range of `passage` in `text`, comparing with whitespace runs folded to one space.
pub fn locate(text: &str, passage: &str) -> Option<Range<usize>> {
    let mut folded = String::new();
    let mut map = Vec::new(); // char index in `folded` -> char index in `text`
    let mut last_space = true;
    for (i, c) in text.chars().enumerate() {
        if c.is_whitespace() {
            if !last_space {
                folded.push(' ');
                map.push(i);
                last_space = true;
            }
        } else {
            folded.push(c);
            map.push(i);
            last_space = false;
        }
    }
    let want = passage.split_whitespace().collect::<Vec<_>>().join(" ");
    let byte = folded.find(&want)?;
    let start = folded[..byte].chars().count();
    let len = want.chars().count();
    let first = *map.get(start)?;
    let last = *map.get(start + len - 1)?;
    Some(first..last + 1)
}

/// Whether `hit` answers: same source file, covering at least half the answer's range.
pub fn relevant(hit: &Hit, source: &str, answer: &Range<usize>) -> bool {
    if !hit.source.ends_with(source) {
        return false;
    }
    let (s, e) = (hit.start.max(0) as usize, hit.end.max(0) as usize);
    let overlap = e.min(answer.end).saturating_sub(s.max(answer.start));
    overlap * 2 >= answer.len().max(1)
}

/// Recall@1, recall@5 and MRR (over the results given, best first).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Metrics {
    pub questions: usize,
    pub recall_at_1: f64,
    pub recall_at_5: f64,
    pub mrr: f64,
}

/// Metrics from the 1-based rank of the first relevant result of each question (None: not found).
pub fn metrics(ranks: &[Option<usize>]) -> Metrics {
    let n = ranks.len().max(1) as f64;
    let at = |k: usize| ranks.iter().filter(|r| r.is_some_and(|r| r <= k)).count() as f64 / n;
    Metrics {
        questions: ranks.len(),
        recall_at_1: at(1),
        recall_at_5: at(5),
        mrr: ranks
            .iter()
            .map(|r| r.map_or(0.0, |r| 1.0 / r as f64))
            .sum::<f64>()
            / n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_folds_whitespace_and_counts_chars() {
        let text = "é one\n   two  three";
        assert_eq!(locate(text, "one two"), Some(2..12));
        assert_eq!(locate(text, "two three four"), None);
    }

    #[test]
    fn metrics_from_ranks() {
        let m = metrics(&[Some(1), Some(3), None, Some(6)]);
        assert_eq!(m.recall_at_1, 0.25);
        assert_eq!(m.recall_at_5, 0.5);
        assert!((m.mrr - (1.0 + 1.0 / 3.0 + 1.0 / 6.0) / 4.0).abs() < 1e-12);
    }

    #[test]
    fn relevance_needs_the_source_and_half_the_passage() {
        let hit = Hit {
            source: "/x/GPL-3".into(),
            chunk_id: 1,
            start: 100,
            end: 200,
            title: String::new(),
            text: String::new(),
            score: 0.0,
        };
        assert!(relevant(&hit, "GPL-3", &(150..190)));
        assert!(relevant(&hit, "GPL-3", &(180..220)));
        assert!(!relevant(&hit, "GPL-3", &(190..230)));
        assert!(!relevant(&hit, "MIT", &(150..190)));
    }
}
