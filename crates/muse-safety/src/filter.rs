//! The [`ContentFilter`] trait every filter implements — rules today, learned classifiers
//! later — and the byte-level entry point that turns non-UTF-8 input into a typed error.

use crate::{SafetyError, Stage, Verdict};

/// A content filter: looks at a text from one pipeline [`Stage`] and returns a [`Verdict`].
///
/// Contract for implementors:
/// * an empty or whitespace-only text gives [`Verdict::allow`] (no categories);
/// * scores are in `[0, 1]`; finding offsets are byte offsets on `char` boundaries of `text`;
/// * a filter that cannot decide (model missing, internal failure) returns an error — it
///   never returns `Allow` to mean "don't know". [`FilterChain`](crate::FilterChain) turns
///   any such error into a refusal.
///
/// ```
/// use muse_safety::{Action, ContentFilter, PiiConfig, PiiFilter, Stage};
///
/// let pii = PiiFilter::new(PiiConfig::default())?;
/// let v = pii.check_text("write to ada@example.org", Stage::Output)?;
/// assert_eq!(v.action, Action::Redact);
/// assert_eq!(v.redacted_text.as_deref(), Some("write to [EMAIL]"));
/// # Ok::<(), muse_safety::SafetyError>(())
/// ```
pub trait ContentFilter: Send + Sync {
    /// A short stable name for logs and errors, e.g. `pii`.
    fn name(&self) -> &str;

    /// Checks one text.
    ///
    /// # Errors
    /// When the filter cannot reach a decision; callers must refuse the text.
    fn check_text(&self, text: &str, stage: Stage) -> Result<Verdict, SafetyError>;

    /// Checks raw bytes: UTF-8 text is checked with [`check_text`](Self::check_text),
    /// anything else is an error (never silently allowed).
    ///
    /// # Errors
    /// [`SafetyError::InvalidUtf8`] for non-UTF-8 input, else as `check_text`.
    fn check_bytes(&self, bytes: &[u8], stage: Stage) -> Result<Verdict, SafetyError> {
        self.check_text(text_from_bytes(bytes)?, stage)
    }
}

/// Interprets `bytes` as UTF-8.
///
/// # Errors
/// [`SafetyError::InvalidUtf8`] with the offset of the first invalid byte.
pub fn text_from_bytes(bytes: &[u8]) -> Result<&str, SafetyError> {
    std::str::from_utf8(bytes).map_err(|e| SafetyError::InvalidUtf8 {
        offset: e.valid_up_to(),
    })
}

/// True for texts every filter answers with [`Verdict::allow`] without looking further.
pub(crate) fn is_blank(text: &str) -> bool {
    text.trim().is_empty()
}
