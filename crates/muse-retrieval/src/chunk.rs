//! Chunking by the embedding model's own tokens. A text is cut into *units* — sentences
//! (Unicode UAX #29 sentence boundaries, with hard line wraps inside a paragraph read as spaces)
//! that know whether they open a paragraph — and units are packed greedily into chunks of at
//! most `max_tokens` tokens. A chunk prefers to end at a paragraph break once it is
//! `paragraph_fill` full, and the next chunk starts with the last whole sentences of the previous
//! one that fit in `overlap_tokens`. A sentence longer than a chunk is cut at token boundaries.
//! Chunks never cross a section boundary (a JSON record).

use std::ops::Range;
use unicode_segmentation::UnicodeSegmentation;

/// How chunks are sized, in tokens of the embedding model (special tokens excluded).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChunkParams {
    pub max_tokens: usize,
    pub overlap_tokens: usize,
    /// End a chunk at a paragraph break once it holds this fraction of `max_tokens`.
    pub paragraph_fill: f32,
}

impl Default for ChunkParams {
    /// 96 tokens with 16 of overlap: on the licence evaluation set (docs/benchmarks.md) this
    /// beat 128/24 and 64/16 for vector and hybrid search with all-MiniLM-L6-v2.
    fn default() -> Self {
        Self {
            max_tokens: 96,
            overlap_tokens: 16,
            paragraph_fill: 0.6,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Unit {
    start: usize,
    end: usize,
    tokens: usize,
    opens_paragraph: bool,
}

/// Byte ranges of the chunks of `text`. `spans` are the byte spans of its tokens, in order;
/// `sections` the ranges no chunk may cross.
pub fn chunk(
    text: &str,
    sections: &[Range<usize>],
    spans: &[(usize, usize)],
    p: &ChunkParams,
) -> Vec<Range<usize>> {
    let max = p.max_tokens.max(1);
    let mut out = Vec::new();
    for sec in sections {
        let Some(section) = text.get(sec.clone()) else {
            continue;
        };
        let units = units(section, sec.start, spans, max, p.overlap_tokens);
        pack(&units, p, &mut out);
    }
    out
}

/// Tokens whose span starts in `[start, end)`.
fn count_tokens(spans: &[(usize, usize)], start: usize, end: usize) -> usize {
    let a = spans.partition_point(|s| s.0 < start);
    let b = spans.partition_point(|s| s.0 < end);
    b - a
}

fn units(
    section: &str,
    base: usize,
    spans: &[(usize, usize)],
    max: usize,
    overlap: usize,
) -> Vec<Unit> {
    let mut units = Vec::new();
    for (pstart, para) in paragraphs(section) {
        // Hard-wrapped lines are one paragraph: UAX #29 would end a sentence at each newline,
        // so segment a copy with newlines read as spaces (same byte length, same offsets).
        let flat = para.replace('\n', " ");
        let mut first = true;
        for (s, sentence) in flat.split_sentence_bound_indices() {
            let lead = sentence.len() - sentence.trim_start().len();
            let body = sentence.trim();
            if body.is_empty() {
                continue;
            }
            let start = base + pstart + s + lead;
            let end = start + body.len();
            let tokens = count_tokens(spans, start, end);
            if tokens <= max {
                units.push(Unit {
                    start,
                    end,
                    tokens,
                    opens_paragraph: first,
                });
            } else {
                split_long(spans, start, end, max, overlap, first, &mut units);
            }
            first = false;
        }
    }
    units
}

/// Byte offset (in `s`) and text of each paragraph: runs of lines separated by blank lines.
fn paragraphs(s: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut end = 0;
    let mut pos = 0;
    for line in s.split_inclusive('\n') {
        let blank = line.trim().is_empty();
        if blank {
            if let Some(st) = start.take() {
                out.push((st, &s[st..end]));
            }
        } else {
            if start.is_none() {
                start = Some(pos);
            }
            end = pos + line.trim_end().len();
        }
        pos += line.len();
    }
    if let Some(st) = start {
        out.push((st, &s[st..end]));
    }
    out
}

/// Cut one over-long sentence into windows of `max` tokens overlapping by `overlap`.
fn split_long(
    spans: &[(usize, usize)],
    start: usize,
    end: usize,
    max: usize,
    overlap: usize,
    opens_paragraph: bool,
    units: &mut Vec<Unit>,
) {
    let a = spans.partition_point(|s| s.0 < start);
    let b = spans.partition_point(|s| s.0 < end);
    let toks = &spans[a..b];
    let step = max.saturating_sub(overlap).max(1);
    let mut i = 0;
    while i < toks.len() {
        let j = (i + max).min(toks.len());
        let s = if i == 0 { start } else { toks[i].0 };
        let e = if j == toks.len() { end } else { toks[j - 1].1 };
        units.push(Unit {
            start: s,
            end: e.max(s),
            tokens: j - i,
            opens_paragraph: opens_paragraph && i == 0,
        });
        if j == toks.len() {
            break;
        }
        i += step;
    }
}

fn pack(units: &[Unit], p: &ChunkParams, out: &mut Vec<Range<usize>>) {
    let max = p.max_tokens.max(1);
    let fill = (p.paragraph_fill * max as f32) as usize;
    let mut i = 0;
    while i < units.len() {
        let mut j = i;
        let mut tokens = 0;
        while j < units.len() && tokens + units[j].tokens <= max {
            if j > i && units[j].opens_paragraph && tokens >= fill {
                break;
            }
            tokens += units[j].tokens;
            j += 1;
        }
        if j == i {
            j = i + 1;
        }
        out.push(units[i].start..units[j - 1].end);
        if j >= units.len() {
            break;
        }
        // A paragraph break is a clean cut: no overlap across it.
        if units[j].opens_paragraph {
            i = j;
            continue;
        }
        // Overlap: the last whole units that fit in `overlap_tokens`, always moving forward.
        let mut k = j;
        let mut t = 0;
        while k > i + 1 && t + units[k - 1].tokens <= p.overlap_tokens {
            k -= 1;
            t += units[k].tokens;
        }
        i = k;
    }
}

/// Character (Unicode scalar) offsets of byte offsets in `text`, which must lie on char
/// boundaries and be given in increasing order.
pub fn char_offsets(text: &str, bytes: &[usize]) -> Vec<usize> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut chars = 0;
    let mut at = 0;
    for &b in bytes {
        if b >= at {
            chars += text.get(at..b).map_or(0, |s| s.chars().count());
            at = b;
        } else {
            chars = text.get(..b).map_or(0, |s| s.chars().count());
            at = b;
        }
        out.push(chars);
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::single_range_in_vec_init,
        reason = "one section: the whole text"
    )]
    use super::*;

    /// Whitespace-separated words as tokens.
    fn word_spans(text: &str) -> Vec<(usize, usize)> {
        let mut spans = Vec::new();
        let mut start = None;
        for (i, c) in text.char_indices() {
            match (c.is_whitespace(), start) {
                (false, None) => start = Some(i),
                (true, Some(s)) => {
                    spans.push((s, i));
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(s) = start {
            spans.push((s, text.len()));
        }
        spans
    }

    fn params(max: usize, overlap: usize) -> ChunkParams {
        ChunkParams {
            max_tokens: max,
            overlap_tokens: overlap,
            paragraph_fill: 0.6,
        }
    }

    #[test]
    fn chunks_fit_the_budget_end_at_sentences_and_overlap() {
        let text = "One two three four. Five six seven.\nEight nine ten eleven. Twelve.\n\n\
                    Thirteen fourteen. Fifteen sixteen seventeen eighteen.";
        let spans = word_spans(text);
        let chunks = chunk(text, &[0..text.len()], &spans, &params(8, 3));
        let texts: Vec<&str> = chunks.iter().map(|r| &text[r.clone()]).collect();
        assert_eq!(
            texts,
            vec![
                "One two three four. Five six seven.",
                "Five six seven.\nEight nine ten eleven. Twelve.",
                "Thirteen fourteen. Fifteen sixteen seventeen eighteen.",
            ]
        );
        for r in &chunks {
            assert!(count_tokens(&spans, r.start, r.end) <= 8);
        }
    }

    #[test]
    fn a_long_sentence_is_cut_at_tokens_and_sections_are_not_crossed() {
        let text = "a b c d e f g h i j\n\nk l";
        let spans = word_spans(text);
        let chunks = chunk(text, &[0..19, 21..24], &spans, &params(4, 1));
        let texts: Vec<&str> = chunks.iter().map(|r| &text[r.clone()]).collect();
        assert_eq!(texts, vec!["a b c d", "d e f g", "g h i j", "k l"]);
    }

    #[test]
    fn every_token_is_in_some_chunk() {
        let text = "Alpha beta. Gamma delta epsilon zeta eta theta iota kappa lambda mu. Nu.\n\n\
                    Xi omicron pi. Rho sigma tau upsilon phi chi psi omega.";
        let spans = word_spans(text);
        let chunks = chunk(text, &[0..text.len()], &spans, &params(5, 2));
        for s in &spans {
            assert!(
                chunks.iter().any(|r| r.start <= s.0 && s.1 <= r.end),
                "{s:?}"
            );
        }
    }

    #[test]
    fn char_offsets_count_scalars() {
        let t = "é a ☺ b";
        assert_eq!(char_offsets(t, &[0, 2, 5, 8, 10]), vec![0, 1, 4, 5, 7]);
    }
}
