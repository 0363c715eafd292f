//! Turning rule matches into a [`Verdict`]: per-category scores, thresholds, actions and
//! the redacted text. Shared by every rule-based filter so they score alike.
//!
//! A category's score combines the weights of its *distinct* matched rules as independent
//! evidence, `score = 1 - Π(1 - wᵢ)`: one strong rule (0.95) decides alone, weak rules (a bare
//! "kill", 0.15) stay far below a 0.5 threshold however often they repeat, because a rule
//! counts once however many times it matches.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Action, Finding, Verdict, apply_redactions};

/// Threshold and action of one category.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CategorySetting {
    /// The category triggers when its score is `>= threshold` (and above 0).
    pub threshold: f32,
    /// What a triggered category asks for.
    pub action: Action,
}

/// Placeholder for a finding in a redacting category whose rule names none.
pub(crate) const GENERIC_PLACEHOLDER: &str = "[REDACTED]";

/// One rule match with the weight of its rule.
#[derive(Debug, Clone)]
pub(crate) struct Hit {
    pub finding: Finding,
    pub weight: f32,
}

/// Builds the verdict for `text` from `hits`, looking up each category's setting.
pub(crate) fn assemble(
    text: &str,
    hits: Vec<Hit>,
    setting: impl Fn(&str) -> CategorySetting,
) -> Verdict {
    // Max weight per (category, rule): a rule counts once.
    let mut per_rule: BTreeMap<(&str, &str), f32> = BTreeMap::new();
    for hit in &hits {
        let key = (hit.finding.category.as_str(), hit.finding.rule.as_str());
        let w = per_rule.entry(key).or_insert(0.0);
        *w = w.max(hit.weight.clamp(0.0, 1.0));
    }
    let mut keep: BTreeMap<String, f32> = BTreeMap::new();
    for ((category, _), w) in per_rule {
        let k = keep.entry(category.to_owned()).or_insert(1.0);
        *k *= 1.0 - w;
    }
    let categories: BTreeMap<String, f32> = keep
        .into_iter()
        .map(|(c, k)| (c, (1.0 - k).clamp(0.0, 1.0)))
        .filter(|(_, s)| *s > 0.0)
        .collect();

    let mut flagged = false;
    let mut action = Action::Allow;
    let mut redacting: Vec<&str> = Vec::new();
    for (category, &score) in &categories {
        let s = setting(category);
        if score >= s.threshold {
            flagged = true;
            action = action.max(s.action);
            if s.action == Action::Redact {
                redacting.push(category);
            }
        }
    }

    let mut spans: Vec<Finding> = hits
        .into_iter()
        .map(|h| {
            let mut f = h.finding;
            if redacting.contains(&f.category.as_str()) {
                if f.replacement.is_none() {
                    f.replacement = Some(GENERIC_PLACEHOLDER.to_owned());
                }
            } else {
                f.replacement = None;
            }
            f
        })
        .collect();
    spans.sort_by_key(|a| (a.start, a.end));

    let redacted_text = (action == Action::Redact).then(|| apply_redactions(text, &spans));
    Verdict {
        flagged,
        categories,
        action,
        redacted_text,
        spans,
    }
}
