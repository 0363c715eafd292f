//! [`FilterChain`]: several filters behind one [`ContentFilter`], combined strictly.
//!
//! * the strictest action wins (`block` > `redact` > `allow`);
//! * a category's score is the maximum over the filters that report it;
//! * redactions compose: every redaction span of every filter is applied to the *original*
//!   text in one pass ([`apply_redactions`]), so filters cannot corrupt each other's offsets;
//! * **fail closed**: if any filter returns an error, or a verdict with a score that is not a
//!   number in `[0, 1]`, the chain returns [`SafetyError::FilterFailed`] naming the filter —
//!   the caller refuses the request with that reason. A chain with no filters refuses too.

use std::collections::BTreeSet;

use crate::filter::is_blank;
use crate::{
    Action, ContentFilter, InjectionFilter, PERSONAL_DATA, PROMPT_INJECTION, PiiConfig, PiiFilter,
    PolicyConfig, PolicyFilter, SafetyConfig, SafetyError, Stage, TOXICITY_LABELS, ToxicityFilter,
    Verdict, apply_redactions,
};

/// Several filters combined; itself a [`ContentFilter`] named `chain`.
pub struct FilterChain {
    filters: Vec<Box<dyn ContentFilter>>,
    max_text_bytes: usize,
    /// Enabled filters left out because their (optional) model is not installed.
    skipped: Vec<String>,
}

impl Default for FilterChain {
    fn default() -> Self {
        Self::new()
    }
}

impl FilterChain {
    /// An empty chain (which refuses every check until a filter is added) with a 1 MiB
    /// text limit.
    #[must_use]
    pub fn new() -> Self {
        Self {
            filters: Vec::new(),
            max_text_bytes: SafetyConfig::default().max_text_bytes,
            skipped: Vec::new(),
        }
    }

    /// Adds a filter (builder style).
    #[must_use]
    pub fn with(mut self, filter: impl ContentFilter + 'static) -> Self {
        self.filters.push(Box::new(filter));
        self
    }

    /// Adds a boxed filter.
    pub fn push(&mut self, filter: Box<dyn ContentFilter>) {
        self.filters.push(filter);
    }

    /// Sets the size limit; longer texts are refused.
    #[must_use]
    pub fn with_max_text_bytes(mut self, max: usize) -> Self {
        self.max_text_bytes = max;
        self
    }

    /// The names of the filters, in order.
    #[must_use]
    pub fn filter_names(&self) -> Vec<&str> {
        self.filters.iter().map(|f| f.name()).collect()
    }

    /// Enabled filters that are not in the chain because their model is not installed and
    /// the config does not require it (e.g. `toxicity` before `./setup.sh`).
    #[must_use]
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// The chain `config` describes.
    ///
    /// # Errors
    /// [`SafetyError::InvalidConfig`] for invalid values or categories that no enabled
    /// policy knows; errors reading or compiling the policy.
    pub fn from_config(config: &SafetyConfig) -> Result<Self, SafetyError> {
        config.validate()?;
        let mut policy = match &config.policy_file {
            Some(path) => PolicyConfig::from_file(path)?,
            None => PolicyConfig::builtin()?,
        };
        let mut known: BTreeSet<&str> = policy.categories.keys().map(String::as_str).collect();
        known.insert(PERSONAL_DATA);
        known.insert(PROMPT_INJECTION);
        if config.enabled.iter().any(|f| f == "toxicity") {
            known.extend(TOXICITY_LABELS);
        }
        let keys = config
            .thresholds
            .keys()
            .map(|k| ("thresholds", k))
            .chain(config.actions.keys().map(|k| ("actions", k)));
        for (table, category) in keys {
            if !known.contains(category.as_str()) {
                let list: Vec<&str> = known.iter().copied().collect();
                return Err(SafetyError::config(
                    format!("safety.{table}.{category}"),
                    format!("unknown category (known: {})", list.join(", ")),
                ));
            }
        }

        let mut pii = PiiConfig::default();
        let mut injection = config.injection.clone();
        for (category, &t) in &config.thresholds {
            match category.as_str() {
                PROMPT_INJECTION => injection.threshold = t,
                PERSONAL_DATA => pii.threshold = t,
                _ => {}
            }
            if let Some(c) = policy.categories.get_mut(category) {
                c.threshold = t;
            }
        }
        for (category, &a) in &config.actions {
            match category.as_str() {
                PROMPT_INJECTION => injection.retrieved_action = a,
                PERSONAL_DATA => pii.action = a,
                _ => {}
            }
            if let Some(c) = policy.categories.get_mut(category) {
                c.action = a;
            }
        }

        let mut chain = Self::new().with_max_text_bytes(config.max_text_bytes);
        for name in &config.enabled {
            match name.as_str() {
                "policy" => chain.push(Box::new(PolicyFilter::new(&policy)?)),
                "pii" => chain.push(Box::new(PiiFilter::new(pii.clone())?)),
                "injection" => chain.push(Box::new(InjectionFilter::new(injection.clone())?)),
                "toxicity" => match ToxicityFilter::from_config(&config.toxicity)? {
                    Some(f) => chain.push(Box::new(
                        f.with_overrides(&config.thresholds, &config.actions)?,
                    )),
                    None => chain.skipped.push("toxicity".to_owned()),
                },
                other => {
                    return Err(SafetyError::config(
                        "safety.enabled",
                        format!("unknown filter {other:?}"),
                    ));
                }
            }
        }
        Ok(chain)
    }

    /// The default chain: built-in policy (with personal data) and injection filter. The
    /// toxicity filter is enabled by default but the library default configures no model
    /// folder, so this chain needs no model files (the `muse` binary points it at
    /// `models/toxic-comment-classifier`).
    ///
    /// # Errors
    /// Only if the built-in policy is malformed (covered by a test).
    pub fn builtin() -> Result<Self, SafetyError> {
        Self::from_config(&SafetyConfig::default())
    }
}

fn check_scores(verdict: &Verdict) -> Result<(), String> {
    for (category, &score) in &verdict.categories {
        if !(0.0..=1.0).contains(&score) {
            return Err(format!(
                "category `{category}` has score {score}, outside [0, 1]"
            ));
        }
    }
    if verdict.action == Action::Redact && verdict.redacted_text.is_none() {
        return Err("verdict says redact but carries no redacted text".to_owned());
    }
    Ok(())
}

impl ContentFilter for FilterChain {
    fn name(&self) -> &str {
        "chain"
    }

    fn check_text(&self, text: &str, stage: Stage) -> Result<Verdict, SafetyError> {
        if self.filters.is_empty() {
            return Err(SafetyError::Unavailable {
                filter: "chain".to_owned(),
                reason: "no content filters are configured".to_owned(),
            });
        }
        if text.len() > self.max_text_bytes {
            return Err(SafetyError::TextTooLong {
                len: text.len(),
                max: self.max_text_bytes,
            });
        }
        if is_blank(text) {
            return Ok(Verdict::allow());
        }
        let mut combined = Verdict::allow();
        for filter in &self.filters {
            let fail = |source: SafetyError| SafetyError::FilterFailed {
                filter: filter.name().to_owned(),
                source: Box::new(source),
            };
            let verdict = filter.check_text(text, stage).map_err(fail)?;
            check_scores(&verdict).map_err(|reason| {
                fail(SafetyError::Unavailable {
                    filter: filter.name().to_owned(),
                    reason,
                })
            })?;
            combined.flagged |= verdict.flagged;
            combined.action = combined.action.max(verdict.action);
            for (category, score) in verdict.categories {
                let s = combined.categories.entry(category).or_insert(0.0);
                *s = s.max(score);
            }
            combined.spans.extend(verdict.spans);
        }
        combined.spans.sort_by_key(|a| (a.start, a.end));
        combined.redacted_text =
            (combined.action == Action::Redact).then(|| apply_redactions(text, &combined.spans));
        Ok(combined)
    }
}
