//! Plain-text helpers the metrics share: sentence splitting, word tokens, n-grams and whitespace
//! normalisation. Script-agnostic: sentence ends include the CJK full stops, and in scripts
//! written without spaces (Han, Hiragana, Katakana, Thai) every character counts as a word.

use std::collections::HashSet;

/// Characters that end a sentence when followed by whitespace or the end of the text.
fn is_terminal(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '。' | '！' | '？' | '…')
}

/// Closing marks that may follow a terminal before the sentence really ends (`."`, `?)`).
fn is_closer(c: char) -> bool {
    matches!(c, '"' | '\'' | ')' | ']' | '»' | '”' | '’' | '」' | '』')
}

/// Split `text` into trimmed, non-empty sentences. A sentence ends at `.`, `!`, `?` (and their CJK
/// forms) followed by whitespace or the end, after any closing quotes or brackets; a line break
/// between non-empty lines also ends one, so headings and list items stand alone.
pub fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (pos, c) = chars[i];
        let mut end = None;
        if c == '\n' {
            end = Some(pos);
        } else if is_terminal(c) {
            let mut j = i + 1;
            while j < chars.len() && (is_terminal(chars[j].1) || is_closer(chars[j].1)) {
                j += 1;
            }
            let cjk = matches!(c, '。' | '！' | '？');
            if j == chars.len() || chars[j].1.is_whitespace() || cjk {
                end = Some(chars.get(j).map_or(text.len(), |&(p, _)| p));
                i = j.saturating_sub(1);
            }
        }
        if let Some(e) = end {
            let s = text[start..e].trim();
            if !s.is_empty() {
                out.push(s);
            }
            start = e;
        }
        i += 1;
    }
    let s = text[start.min(text.len())..].trim();
    if !s.is_empty() {
        out.push(s);
    }
    out
}

fn is_unspaced_script(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF      // Hiragana, Katakana
        | 0x3400..=0x4DBF    // CJK extension A
        | 0x4E00..=0x9FFF    // CJK unified ideographs
        | 0xF900..=0xFAFF    // CJK compatibility ideographs
        | 0x0E00..=0x0E7F    // Thai
    )
}

/// Lower-cased word tokens: runs of letters and digits (an apostrophe inside a word is kept);
/// each character of an unspaced script is a word of its own.
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if is_unspaced_script(c) {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            out.push(c.to_string());
        } else if c.is_alphanumeric() {
            cur.extend(c.to_lowercase());
        } else if (c == '\'' || c == '’')
            && !cur.is_empty()
            && chars.peek().is_some_and(|n| n.is_alphanumeric())
        {
            cur.push('\'');
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The `n`-grams of `words`, joined by a space.
pub fn ngrams(words: &[String], n: usize) -> Vec<String> {
    if n == 0 || words.len() < n {
        return Vec::new();
    }
    words.windows(n).map(|w| w.join(" ")).collect()
}

/// Number of distinct items.
pub fn distinct<T: std::hash::Hash + Eq>(items: &[T]) -> usize {
    items.iter().collect::<HashSet<_>>().len()
}

/// A sentence reduced to its words, for duplicate detection (case, spacing and punctuation
/// don't make two sentences different).
pub fn sentence_key(s: &str) -> String {
    words(s).join(" ")
}

/// Collapse runs of spaces and tabs to one space, trim every line, and allow at most one blank
/// line between paragraphs.
pub fn normalize_whitespace(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_run = 0;
    for line in text.lines() {
        let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
        if line.is_empty() {
            blank_run += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank_run > 0 { "\n\n" } else { "\n" });
        }
        out.push_str(&line);
        blank_run = 0;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_split_on_terminals_followed_by_space() {
        let s = sentences("It rained. Was it cold?  Yes! The end");
        assert_eq!(s, ["It rained.", "Was it cold?", "Yes!", "The end"]);
    }

    #[test]
    fn decimals_and_inner_dots_do_not_split() {
        assert_eq!(
            sentences("Pi is 3.14 or so. Ok."),
            ["Pi is 3.14 or so.", "Ok."]
        );
        assert_eq!(
            sentences("See www.example.org now."),
            ["See www.example.org now."]
        );
    }

    #[test]
    fn closing_quotes_stay_with_their_sentence() {
        assert_eq!(
            sentences("He said \"go.\" Then he left."),
            ["He said \"go.\"", "Then he left."]
        );
    }

    #[test]
    fn lines_and_cjk_full_stops_end_sentences() {
        assert_eq!(sentences("Title\nBody text."), ["Title", "Body text."]);
        assert_eq!(
            sentences("今天下雨。明天晴天。"),
            ["今天下雨。", "明天晴天。"]
        );
        assert!(sentences("  \n ").is_empty());
    }

    #[test]
    fn words_lowercase_and_split_unspaced_scripts() {
        assert_eq!(words("Don't STOP, now-2!"), ["don't", "stop", "now", "2"]);
        assert_eq!(words("雨が"), ["雨", "が"]);
        assert_eq!(words("Ünïcode café"), ["ünïcode", "café"]);
    }

    #[test]
    fn ngrams_and_distinct() {
        let w: Vec<String> = words("a b a b");
        assert_eq!(ngrams(&w, 2), ["a b", "b a", "a b"]);
        assert_eq!(distinct(&ngrams(&w, 2)), 2);
        assert!(ngrams(&w, 5).is_empty());
    }

    #[test]
    fn whitespace_is_normalised() {
        assert_eq!(
            normalize_whitespace("  a   b \n\n\n\n c\t d \n"),
            "a b\n\nc d"
        );
    }
}
