//! Applying redaction spans to a text.
//!
//! Spans come from several detectors and several filters, each with byte offsets into the
//! *original* text, so they are applied in one pass over the original — never one after the
//! other on already-rewritten text, where offsets would drift. Overlapping spans are merged
//! into their union, which gets the placeholder of the span that starts first (the longer one
//! on a tie); spans that merely touch stay separate.

use crate::Finding;

/// Returns `text` with every finding that has a `replacement` replaced by it.
///
/// Findings without a replacement are ignored, as are spans that are out of range or not on
/// `char` boundaries (which a correct filter never produces).
///
/// ```
/// use muse_safety::{apply_redactions, Finding};
///
/// let f = |start, end, r: &str| Finding {
///     category: "personal_data".into(), start, end, matched: String::new(),
///     rule: "test".into(), replacement: Some(r.into()),
/// };
/// let text = "call 555-123-4567 now";
/// let out = apply_redactions(text, &[f(5, 17, "[PHONE]"), f(9, 12, "[X]")]);
/// assert_eq!(out, "call [PHONE] now");
/// ```
#[must_use]
pub fn apply_redactions(text: &str, findings: &[Finding]) -> String {
    let mut spans: Vec<(usize, usize, &str)> = findings
        .iter()
        .filter_map(|f| {
            let r = f.replacement.as_deref()?;
            let valid = f.start < f.end
                && f.end <= text.len()
                && text.is_char_boundary(f.start)
                && text.is_char_boundary(f.end);
            valid.then_some((f.start, f.end, r))
        })
        .collect();
    spans.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));

    let mut merged: Vec<(usize, usize, &str)> = Vec::with_capacity(spans.len());
    for span in spans {
        match merged.last_mut() {
            Some(last) if span.0 < last.1 => last.1 = last.1.max(span.1),
            _ => merged.push(span),
        }
    }

    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    for (start, end, replacement) in merged {
        out.push_str(&text[pos..start]);
        out.push_str(replacement);
        pos = end;
    }
    out.push_str(&text[pos..]);
    out
}
