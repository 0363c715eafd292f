//! [`SafetyConfig`]: the `[safety]` table of `muse.toml` — which filters run, per-category
//! thresholds and actions, the injection settings, size limit and audit log.
//!
//! ```toml
//! [safety]
//! enabled = ["policy", "injection"]   # also "pii" (PII-only; "policy" already includes it)
//! policy_file = "my-policy.toml"      # optional; default: the built-in policy
//! max_text_bytes = 1048576
//! audit_log = "logs/safety.jsonl"     # optional
//! audit_full_text = false             # log the checked text itself (off: privacy)
//!
//! [safety.thresholds]
//! violence = 0.6
//! [safety.actions]
//! personal_data = "block"
//! [safety.injection]
//! detect_base64 = true
//! [safety.toxicity]                   # the learned text classifier (see `toxicity`)
//! model = "models/toxic-comment-classifier"
//! required = true
//! [safety.image]                      # the NSFW image classifier (see `images`)
//! nsfw_threshold = 0.5
//! nsfw_action = "blur"                # or "withhold", "allow"
//! ```
//!
//! Every field has a default ([`SafetyConfig::default`]); an invalid value (threshold outside
//! `[0, 1]`, unknown action, unknown category or filter) is a [`SafetyError::InvalidConfig`]
//! naming the field, never silently replaced by a default.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Action, ImageConfig, InjectionConfig, SafetyError, ToxicityConfig};

/// Filter names accepted in `safety.enabled`.
pub const FILTER_NAMES: [&str; 4] = ["policy", "pii", "injection", "toxicity"];

/// The `[safety]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SafetyConfig {
    /// The filters to run, by name (see [`FILTER_NAMES`]). An empty list is allowed but
    /// makes every check fail (a chain with no filters refuses rather than allows).
    pub enabled: Vec<String>,
    /// Per-category threshold overrides in `[0, 1]` (`prompt_injection` and
    /// `personal_data` included).
    pub thresholds: BTreeMap<String, f32>,
    /// Per-category action overrides. For `prompt_injection` this is the action on
    /// retrieved documents.
    pub actions: BTreeMap<String, Action>,
    /// A policy file replacing the built-in policy.
    pub policy_file: Option<PathBuf>,
    /// Longer texts are refused with [`SafetyError::TextTooLong`].
    pub max_text_bytes: usize,
    /// Where to append audit records (JSON lines); none when unset.
    pub audit_log: Option<PathBuf>,
    /// Include the checked text in audit records.
    pub audit_full_text: bool,
    /// Prompt-injection settings.
    pub injection: InjectionConfig,
    /// The learned toxicity classifier (used when `toxicity` is enabled and its model is
    /// found, or required).
    pub toxicity: ToxicityConfig,
    /// Image screening (NSFW classifier, limits, action).
    pub image: ImageConfig,
}

impl Default for SafetyConfig {
    fn default() -> Self {
        Self {
            enabled: vec![
                "policy".to_owned(),
                "injection".to_owned(),
                "toxicity".to_owned(),
            ],
            thresholds: BTreeMap::new(),
            actions: BTreeMap::new(),
            policy_file: None,
            max_text_bytes: 1 << 20,
            audit_log: None,
            audit_full_text: false,
            injection: InjectionConfig::default(),
            toxicity: ToxicityConfig::default(),
            image: ImageConfig::default(),
        }
    }
}

impl SafetyConfig {
    /// Parses the `[safety]` table of a whole `muse.toml`; other tables are ignored and a
    /// file without `[safety]` gives the defaults.
    ///
    /// # Errors
    /// [`SafetyError::Toml`] for malformed TOML or wrong types, [`SafetyError::InvalidConfig`]
    /// naming the field for invalid values.
    pub fn from_toml_str(text: &str) -> Result<Self, SafetyError> {
        let root: toml::Table = toml::from_str(text)?;
        let Some(safety) = root.get("safety") else {
            return Ok(Self::default());
        };
        check_actions(safety, "safety")?;
        let config: Self = safety.clone().try_into()?;
        config.validate()?;
        Ok(config)
    }

    /// Reads `muse.toml` (or any TOML file with a `[safety]` table).
    ///
    /// # Errors
    /// [`SafetyError::Io`] if it cannot be read, else as [`Self::from_toml_str`].
    pub fn from_file(path: &Path) -> Result<Self, SafetyError> {
        let text = std::fs::read_to_string(path).map_err(|source| SafetyError::Io {
            what: "config file",
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml_str(&text)
    }

    /// Checks the values that do not depend on the policy (category names are checked when
    /// the chain is built, against the policy in use).
    ///
    /// # Errors
    /// [`SafetyError::InvalidConfig`] naming the first offending field.
    pub fn validate(&self) -> Result<(), SafetyError> {
        for (i, name) in self.enabled.iter().enumerate() {
            if !FILTER_NAMES.contains(&name.as_str()) {
                return Err(SafetyError::config(
                    format!("safety.enabled[{i}]"),
                    format!(
                        "unknown filter {name:?} (known: {})",
                        FILTER_NAMES.join(", ")
                    ),
                ));
            }
        }
        for (category, &t) in &self.thresholds {
            check_threshold(&format!("safety.thresholds.{category}"), t)?;
        }
        for label in crate::TOXICITY_LABELS {
            if self.actions.get(label) == Some(&Action::Redact) {
                return Err(SafetyError::config(
                    format!("safety.actions.{label}"),
                    "cannot be \"redact\": a toxicity score has no span to redact (use \"allow\" or \"block\")",
                ));
            }
        }
        if self.max_text_bytes == 0 {
            return Err(SafetyError::config(
                "safety.max_text_bytes",
                "must be at least 1",
            ));
        }
        check_threshold("safety.injection.threshold", self.injection.threshold)?;
        self.image.validate()
    }
}

/// A threshold must be a number in `[0, 1]`.
pub(crate) fn check_threshold(field: &str, value: f32) -> Result<(), SafetyError> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(SafetyError::config(
            field,
            format!("must be in [0, 1], got {value}"),
        ))
    }
}

/// Walks a TOML value and checks every `action = "..."`, every `*_action = "..."` and every
/// entry of an `actions` table, so an unknown action is reported with its full path instead
/// of a generic deserialisation error.
pub(crate) fn check_actions(value: &toml::Value, path: &str) -> Result<(), SafetyError> {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        toml::Value::Table(table) => {
            for (key, v) in table {
                let field = join(key);
                if field == "safety.image" {
                    // Image actions (`allow`/`blur`/`withhold`) are checked by serde.
                    continue;
                }
                if key == "action" || key.ends_with("_action") {
                    check_action_value(&field, v)?;
                } else if key == "actions"
                    && let toml::Value::Table(actions) = v
                {
                    for (category, a) in actions {
                        check_action_value(&format!("{field}.{category}"), a)?;
                    }
                } else {
                    check_actions(v, &field)?;
                }
            }
        }
        toml::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                check_actions(v, &format!("{path}[{i}]"))?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn check_action_value(field: &str, value: &toml::Value) -> Result<(), SafetyError> {
    match value {
        toml::Value::String(s) => s
            .parse::<Action>()
            .map(|_| ())
            .map_err(|reason| SafetyError::config(field, reason)),
        other => Err(SafetyError::config(
            field,
            format!("must be one of \"allow\", \"redact\", \"block\", got {other}"),
        )),
    }
}
