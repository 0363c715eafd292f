//! The policy as data: categories, each with a threshold, an action, allow-patterns and
//! weighted rules made of term lists and regex patterns.
//!
//! The built-in policy is `data/policy.toml` (compiled in with `include_str!`); a deployment
//! can replace it with its own file of the same shape (`safety.policy_file`). Format:
//!
//! ```toml
//! [vars]                       # reusable regex fragments, referenced as {{name}}
//! person = '(?:someone|somebody|a person)'
//!
//! [categories.violence]
//! threshold = 0.5              # score >= threshold triggers the action
//! action = "block"             # allow | redact | block
//! allow = ['\bkill (?:a|the) process\b']   # matches overlapping these are ignored
//!
//! [[categories.violence.rules]]
//! id = "threat"
//! weight = 0.95                # in (0, 1]; score = 1 - Π(1 - weight) over matched rules
//! terms = ["..."]              # literal phrases, whole words, any whitespace between words
//! patterns = ['\bI will kill {{person}}\b']
//! unless = ['\bnovel\b']       # the rule is skipped if any of these matches anywhere
//! redact_as = "[SSN]"          # placeholder when the category redacts
//! ```
//!
//! Terms and patterns are case-insensitive and Unicode-aware (`regex` crate semantics: `\b`
//! and `\w` are Unicode); a pattern can opt out with `(?-i)`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Action, SafetyError};

/// The built-in policy file.
pub const BUILTIN_POLICY: &str = include_str!("../../data/policy.toml");

/// A whole policy.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Named regex fragments substituted for `{{name}}` in patterns, allow- and unless-lists.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    /// The categories by name (lower-case, `[a-z0-9_]`).
    #[serde(default)]
    pub categories: BTreeMap<String, CategoryConfig>,
}

/// One policy category.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryConfig {
    /// What the category is about, for humans.
    #[serde(default)]
    pub description: String,
    /// The category triggers when its score is `>= threshold`.
    #[serde(default = "default_threshold")]
    pub threshold: f32,
    /// What a triggered category asks for.
    pub action: Action,
    /// Also score personal data found by the PII detectors here (weight 1.0 each, with
    /// typed placeholders).
    #[serde(default)]
    pub pii: bool,
    /// Context patterns: a rule match overlapping a match of one of these is ignored
    /// ("kill the process", "bath bomb").
    #[serde(default)]
    pub allow: Vec<String>,
    /// The rules.
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
}

/// One weighted rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Identifier, unique within the category; findings carry `category.id`.
    pub id: String,
    /// Evidence weight in `(0, 1]`.
    pub weight: f32,
    /// Literal phrases matched as whole words.
    #[serde(default)]
    pub terms: Vec<String>,
    /// Regular expressions.
    #[serde(default)]
    pub patterns: Vec<String>,
    /// Text-level exceptions: when any matches anywhere in the text, the rule does not fire.
    #[serde(default)]
    pub unless: Vec<String>,
    /// Placeholder for this rule's matches when the category redacts.
    #[serde(default)]
    pub redact_as: Option<String>,
}

fn default_threshold() -> f32 {
    0.5
}

impl PolicyConfig {
    /// The built-in policy.
    ///
    /// # Errors
    /// Only if the compiled-in file is malformed (covered by a test).
    pub fn builtin() -> Result<Self, SafetyError> {
        Self::from_toml_str(BUILTIN_POLICY)
    }

    /// Parses a policy file's text. Values are checked (actions by name, thresholds and
    /// weights by range); regexes are checked when a [`PolicyFilter`](super::PolicyFilter)
    /// compiles them.
    ///
    /// # Errors
    /// [`SafetyError::InvalidConfig`] naming the field, or [`SafetyError::Toml`].
    pub fn from_toml_str(text: &str) -> Result<Self, SafetyError> {
        let value: toml::Value = toml::from_str(text)?;
        crate::config::check_actions(&value, "")?;
        let config: Self = value.try_into()?;
        config.validate()?;
        Ok(config)
    }

    /// Reads and parses a policy file.
    ///
    /// # Errors
    /// [`SafetyError::Io`] if the file cannot be read, else as [`Self::from_toml_str`].
    pub fn from_file(path: &Path) -> Result<Self, SafetyError> {
        let text = std::fs::read_to_string(path).map_err(|source| SafetyError::Io {
            what: "policy file",
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml_str(&text)
    }

    /// Checks names, thresholds and weights.
    ///
    /// # Errors
    /// [`SafetyError::InvalidConfig`] naming the first offending field.
    pub fn validate(&self) -> Result<(), SafetyError> {
        for (name, cat) in &self.categories {
            let field = format!("categories.{name}");
            let name_ok = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !name_ok {
                return Err(SafetyError::config(
                    field,
                    "category names must be [a-z0-9_]+",
                ));
            }
            crate::config::check_threshold(&format!("{field}.threshold"), cat.threshold)?;
            let mut seen = std::collections::BTreeSet::new();
            for (i, rule) in cat.rules.iter().enumerate() {
                let rf = format!("{field}.rules[{i}]");
                if rule.id.is_empty() || !seen.insert(rule.id.as_str()) {
                    return Err(SafetyError::config(
                        format!("{rf}.id"),
                        format!(
                            "must be non-empty and unique in the category, got {:?}",
                            rule.id
                        ),
                    ));
                }
                if !(rule.weight > 0.0 && rule.weight <= 1.0) {
                    return Err(SafetyError::config(
                        format!("{rf}.weight"),
                        format!("must be in (0, 1], got {}", rule.weight),
                    ));
                }
                if rule.terms.is_empty() && rule.patterns.is_empty() {
                    return Err(SafetyError::config(
                        rf,
                        "needs at least one term or pattern",
                    ));
                }
                if rule.terms.iter().any(|t| t.trim().is_empty()) {
                    return Err(SafetyError::config(
                        format!("{rf}.terms"),
                        "contains an empty term",
                    ));
                }
            }
        }
        Ok(())
    }
}
