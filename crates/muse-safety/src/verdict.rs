//! What a filter says about a text: [`Verdict`], its [`Action`], the [`Finding`]s behind it,
//! and the [`Stage`] of the pipeline the text came from.
//!
//! Serialised with serde, a verdict has the shape the `muse moderate --json` command prints:
//!
//! ```json
//! {"flagged": true, "categories": {"personal_data": 1.0}, "action": "redact",
//!  "redacted_text": "mail me at [EMAIL]", "spans": [ ... ]}
//! ```
//!
//! `redacted_text` is present only when the action is `redact`; `spans` only when non-empty.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Where in the pipeline a text is checked. Filters may treat stages differently: the
/// injection filter neutralises markers in [`Stage::Retrieved`] documents but only reports
/// them in prompts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// A user's prompt, before generation.
    Input,
    /// Generated content, before it is returned.
    Output,
    /// A retrieved document, before it reaches the model.
    Retrieved,
}

impl Stage {
    /// The lowercase name used in JSON and logs.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Input => "input",
            Self::Output => "output",
            Self::Retrieved => "retrieved",
        }
    }
}

/// What to do with a text. Ordered by strictness: `Allow < Redact < Block`, so combining
/// verdicts takes the maximum.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Pass the text on unchanged.
    #[default]
    Allow,
    /// Pass on [`Verdict::redacted_text`] instead of the text.
    Redact,
    /// Refuse: the text must not be used or returned.
    Block,
}

impl Action {
    /// The lowercase name used in JSON and config files.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Redact => "redact",
            Self::Block => "block",
        }
    }
}

impl std::str::FromStr for Action {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "allow" => Ok(Self::Allow),
            "redact" => Ok(Self::Redact),
            "block" => Ok(Self::Block),
            other => Err(format!(
                "must be one of \"allow\", \"redact\", \"block\", got {other:?}"
            )),
        }
    }
}

/// One matched rule: where it matched (byte offsets into the checked text, `start..end`),
/// what it matched and which rule fired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The category the rule belongs to, e.g. `personal_data`.
    pub category: String,
    /// Byte offset of the first matched byte.
    pub start: usize,
    /// Byte offset one past the last matched byte.
    pub end: usize,
    /// The matched text (`&text[start..end]`).
    pub matched: String,
    /// The rule's id, e.g. `email` or `weapons.build_request`.
    pub rule: String,
    /// The placeholder this span is replaced with when the verdict redacts, e.g. `[EMAIL]`;
    /// `None` for findings that are only reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
}

/// A filter's decision about one text.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Verdict {
    /// True when at least one category reached its threshold (whatever its action: a
    /// supportive category such as `self_harm_support` can be flagged and allowed).
    pub flagged: bool,
    /// Score in `[0, 1]` per category that matched anything; categories scoring 0 are omitted.
    pub categories: BTreeMap<String, f32>,
    /// The strictest action among the categories that reached their thresholds.
    pub action: Action,
    /// The text with every redaction span replaced; present only when `action` is `Redact`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redacted_text: Option<String>,
    /// Every match behind the scores, in text order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spans: Vec<Finding>,
}

impl Verdict {
    /// The verdict for a text that needs no checking (empty or whitespace only): allow,
    /// no categories, no spans.
    #[must_use]
    pub fn allow() -> Self {
        Self::default()
    }

    /// The score of `category`, 0 when it did not match.
    #[must_use]
    pub fn score(&self, category: &str) -> f32 {
        self.categories.get(category).copied().unwrap_or(0.0)
    }

    /// The text to pass on: the original when allowing, the redacted text when redacting,
    /// `None` when blocking — and `None` for a `Redact` verdict that lacks its redacted text,
    /// so a malformed verdict never lets the original through.
    #[must_use]
    pub fn output_text<'a>(&'a self, original: &'a str) -> Option<&'a str> {
        match self.action {
            Action::Allow => Some(original),
            Action::Redact => self.redacted_text.as_deref(),
            Action::Block => None,
        }
    }
}
