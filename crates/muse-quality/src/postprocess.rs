//! Clean-up of generated text before it is shown or scored: normalise whitespace, drop sentences
//! that repeat an earlier one, and — when generation stopped at the token budget — cut the
//! unfinished last sentence.

use crate::text::{normalize_whitespace, sentence_key, sentences};
use std::collections::HashSet;

/// What [`postprocess`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PostEdits {
    pub dropped_duplicate_sentences: usize,
    pub trimmed_incomplete_sentence: bool,
    /// The whole text was wrapped in one pair of quotes, which were removed.
    pub unquoted: bool,
}

/// The text inside one pair of quotes that wraps all of it (and holds no other such quote).
fn unwrap_quotes(text: &str) -> Option<&str> {
    for (open, close) in [('"', '"'), ('“', '”'), ('「', '」')] {
        if let Some(inner) = text.strip_prefix(open).and_then(|t| t.strip_suffix(close))
            && !inner.contains(open)
            && !inner.contains(close)
            && !inner.trim().is_empty()
        {
            return Some(inner.trim());
        }
    }
    None
}

fn ends_complete(s: &str) -> bool {
    s.trim_end_matches(['"', '\'', ')', ']', '”', '’', '*'])
        .ends_with(['.', '!', '?', '。', '！', '？', '…'])
}

/// Clean `text`. `stopped_by_length` says generation hit its token budget, so the last sentence
/// may be cut mid-way; it is removed unless it is the only one. Paragraph breaks are kept.
pub fn postprocess(text: &str, stopped_by_length: bool) -> (String, PostEdits) {
    let mut edits = PostEdits::default();
    let mut norm = normalize_whitespace(text);
    // Small instruct models often put a whole answer in quotes ("ad copy" as a quotation).
    if let Some(inner) = unwrap_quotes(&norm) {
        norm = inner.to_string();
        edits.unquoted = true;
    }
    let mut seen = HashSet::new();
    let mut paragraphs: Vec<String> = Vec::new();
    for para in norm.split("\n\n") {
        let mut lines: Vec<String> = Vec::new();
        for line in para.split('\n') {
            let kept: Vec<&str> = sentences(line)
                .into_iter()
                .filter(|s| {
                    let key = sentence_key(s);
                    // Only sentences with words take part: "—" or "1." are not repeats.
                    let fresh = key.is_empty() || seen.insert(key);
                    if !fresh {
                        edits.dropped_duplicate_sentences += 1;
                    }
                    fresh
                })
                .collect();
            if !kept.is_empty() {
                lines.push(kept.join(" "));
            }
        }
        if !lines.is_empty() {
            paragraphs.push(lines.join("\n"));
        }
    }
    let mut out = paragraphs.join("\n\n");
    if stopped_by_length && !ends_complete(&out) {
        let cut = sentences(&out)
            .last()
            .and_then(|last| out.rfind(last))
            .filter(|&start| start > 0);
        if let Some(start) = cut {
            out.truncate(start);
            out = out.trim_end().to_string();
            edits.trimmed_incomplete_sentence = true;
        }
    }
    (out, edits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_an_unfinished_sentence_only_when_cut_by_length() {
        let t = "The sea is calm. Waves roll in slowly. The gulls";
        assert_eq!(
            postprocess(t, true).0,
            "The sea is calm. Waves roll in slowly."
        );
        assert_eq!(postprocess(t, false).0, t);
        assert_eq!(
            postprocess("Unfinished thought", true).0,
            "Unfinished thought"
        );
        assert_eq!(
            postprocess("Done. \"Quoted.\"", true).0,
            "Done. \"Quoted.\""
        );
    }

    #[test]
    fn drops_repeated_sentences_and_normalises_whitespace() {
        let (t, e) = postprocess(
            "A  cat sat.   A cat sat. \n\n\n\nThe end.  a CAT sat!",
            false,
        );
        assert_eq!(t, "A cat sat.\n\nThe end.");
        assert_eq!(e.dropped_duplicate_sentences, 2);
    }

    #[test]
    fn unwraps_a_fully_quoted_answer_only() {
        let (t, e) = postprocess("\"Run further. Stay dry.\"", false);
        assert_eq!(t, "Run further. Stay dry.");
        assert!(e.unquoted);
        let kept = "\"Go,\" she said. \"Now.\"";
        assert_eq!(postprocess(kept, false).0, kept);
    }

    #[test]
    fn keeps_line_structure() {
        let t = "Title\n- one.\n- two.";
        assert_eq!(postprocess(t, false).0, t);
    }
}
