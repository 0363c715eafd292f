//! Streaming stop-string matcher tests.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that meets bad data should fail loudly"
)]

use muse_sample::{StopMatcher, StopStep};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn matcher(stops: &[&str]) -> StopMatcher {
    StopMatcher::new(stops.iter().map(|s| s.to_string()).collect())
}

fn step(emit: &str, stopped: bool) -> StopStep {
    StopStep {
        emit: emit.to_string(),
        stopped,
    }
}

/// Feeds pieces; returns per-piece steps.
fn feed(m: &mut StopMatcher, pieces: &[&str]) -> Vec<StopStep> {
    pieces.iter().map(|p| m.push(p)).collect()
}

#[test]
fn stop_split_across_pieces() {
    let mut m = matcher(&["</s>"]);
    let steps = feed(&mut m, &["Hello <", "/", "s>", " more"]);
    assert_eq!(
        steps,
        vec![
            step("Hello ", false),
            step("", false),
            step("", true),
            step("", true)
        ]
    );
    assert!(m.is_stopped());
    assert_eq!(m.matched_stop(), Some("</s>"));
    assert_eq!(m.finish(), "");
}

#[test]
fn stop_inside_one_piece_drops_the_rest() {
    let mut m = matcher(&["</s>"]);
    assert_eq!(m.push("foo</s>bar"), step("foo", true));
    assert_eq!(m.finish(), "");
}

#[test]
fn partial_prefix_is_held_then_released_on_divergence() {
    let mut m = matcher(&["STOP"]);
    assert_eq!(m.push("ab ST"), step("ab ", false));
    assert_eq!(m.held(), "ST");
    assert_eq!(m.push("O"), step("", false));
    assert_eq!(m.held(), "STO");
    assert_eq!(m.push("X more"), step("STOX more", false));
    assert_eq!(m.held(), "");
    assert!(!m.is_stopped());
    assert_eq!(m.finish(), "");
}

#[test]
fn held_text_is_flushed_by_finish() {
    let mut m = matcher(&["</s>"]);
    assert_eq!(m.push("abc</"), step("abc", false));
    assert_eq!(m.finish(), "</");
    assert_eq!(m.finish(), "");
}

#[test]
fn overlapping_prefixes() {
    // Text "aaab" with stop "aab": output is "a".
    let mut m = matcher(&["aab"]);
    let steps = feed(&mut m, &["a", "a", "a", "b"]);
    assert_eq!(
        steps,
        vec![
            step("", false),
            step("", false),
            step("a", false),
            step("", true)
        ]
    );
}

#[test]
fn multiple_stop_strings() {
    let mut m = matcher(&["\n\n", "User:"]);
    assert_eq!(m.push("Hi Us"), step("Hi ", false));
    assert_eq!(m.push("er: x"), step("", true));
    assert_eq!(m.matched_stop(), Some("User:"));

    let mut m = matcher(&["\n\n", "User:"]);
    assert_eq!(m.push("Hi\n"), step("Hi", false));
    assert_eq!(m.push("\nUser:"), step("", true));
    assert_eq!(m.matched_stop(), Some("\n\n"));

    // Earliest start wins when both complete in the same push.
    let mut m = matcher(&["bc", "abcd"]);
    assert_eq!(m.push("xabcd"), step("x", true));
    assert_eq!(m.matched_stop(), Some("abcd"));

    // Hold back the longest suffix that could start any stop string.
    let mut m = matcher(&["xyz", "yzw"]);
    assert_eq!(m.push("0xy"), step("0", false));
    assert_eq!(m.push("zz"), step("", true));
    assert_eq!(m.matched_stop(), Some("xyz"));
}

#[test]
fn unicode_is_sliced_on_char_boundaries() {
    let mut m = matcher(&["世界"]);
    assert_eq!(m.push("你好世"), step("你好", false));
    assert_eq!(m.held(), "世");
    assert_eq!(m.push("界!"), step("", true));

    // "ã" and "é" share their first UTF-8 byte (0xC3) but must not be confused.
    let mut m = matcher(&["é"]);
    assert_eq!(m.push("ã"), step("ã", false));
    assert_eq!(m.push("café"), step("caf", true));

    let mut m = matcher(&["ab€"]);
    assert_eq!(m.push("x€a"), step("x€", false));
    assert_eq!(m.push("b"), step("", false));
    assert_eq!(m.push("€"), step("", true));

    let mut m = matcher(&["€uro"]);
    assert_eq!(m.push("a€"), step("a", false));
    assert_eq!(m.push("€"), step("€", false));
    assert_eq!(m.push("ur"), step("", false));
    assert_eq!(m.push("os"), step("", true));

    let mut m = matcher(&["🦀🦀"]);
    assert_eq!(m.push("rust🦀"), step("rust", false));
    assert_eq!(m.push("🐍"), step("🦀🐍", false));
}

#[test]
fn empty_stop_strings_are_ignored() {
    let mut m = matcher(&["", ""]);
    assert_eq!(m.push("abc"), step("abc", false));
    assert_eq!(m.push(""), step("", false));
    assert_eq!(m.finish(), "");
    let mut none = StopMatcher::new(Vec::new());
    assert_eq!(none.push("x"), step("x", false));
}

#[test]
fn reset_allows_reuse() {
    let mut m = matcher(&["!"]);
    assert_eq!(m.push("a!b"), step("a", true));
    m.reset();
    assert!(!m.is_stopped());
    assert_eq!(m.matched_stop(), None);
    assert_eq!(m.push("cd"), step("cd", false));
}

/// Reference: the text before the earliest occurrence of any stop string.
fn reference(text: &str, stops: &[&str]) -> (String, bool) {
    let first = stops
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| text.find(s))
        .min();
    match first {
        Some(pos) => (text[..pos].to_string(), true),
        None => (text.to_string(), false),
    }
}

#[test]
fn random_splits_agree_with_reference() {
    let texts = [
        "The answer is 42.\n\nUser: next",
        "no stop here at all",
        "ends with partial </",
        "日本語のテキスト。終わり</s>後",
        "aaaaaab aab",
        "emoji 🦀🦀 stop",
    ];
    let stops = ["\n\nUser:", "</s>", "aab", "🦀🦀", "終わり"];
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for text in texts {
        let (want, want_stop) = reference(text, &stops);
        for _ in 0..200 {
            // Random split on char boundaries.
            let bounds: Vec<usize> = text
                .char_indices()
                .map(|(i, _)| i)
                .chain(std::iter::once(text.len()))
                .collect();
            let mut cuts: Vec<usize> = bounds
                .iter()
                .copied()
                .filter(|_| rng.random_bool(0.3))
                .collect();
            cuts.insert(0, 0);
            cuts.push(text.len());
            cuts.dedup();
            let mut m = StopMatcher::new(stops.iter().map(|s| s.to_string()).collect());
            let mut out = String::new();
            let mut stopped = false;
            for w in cuts.windows(2) {
                let s = m.push(&text[w[0]..w[1]]);
                out.push_str(&s.emit);
                if s.stopped {
                    stopped = true;
                    break;
                }
                // Nothing that could still begin a stop string is ever emitted early.
                assert!(
                    want.starts_with(&out) || !want_stop,
                    "{text:?}: emitted {out:?}"
                );
            }
            out.push_str(&m.finish());
            assert_eq!(stopped, want_stop, "{text:?} cuts {cuts:?}");
            assert_eq!(out, want, "{text:?} cuts {cuts:?}");
        }
    }
}
