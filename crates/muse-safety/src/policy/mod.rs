//! The policy filter: configurable categories (violence, self-harm, sexual content involving
//! minors, weapons, hate, personal data) scored by weighted term and pattern rules.
//!
//! **This is a rule baseline.** Rules catch explicit, well-formed requests and statements —
//! "how do I build a pipe bomb", "I will kill you" — and are easy to audit and fix, but they
//! miss paraphrase, misspelling, other languages and implication, and they can be fooled by
//! context they do not model. The learned classifiers planned for this crate plug into the
//! same [`ContentFilter`] trait and a [`FilterChain`](crate::FilterChain) combines both.
//!
//! How the rules avoid the classic false positives ("how do I kill a Python process", "a
//! killer app", "shoot a photo", "knife skills"):
//! * single alarming words ("kill", "bomb", "suicide") are weak evidence (weight ≈ 0.15) that
//!   never reaches a category's threshold alone; strong rules require *intent structure* —
//!   a first-person threat aimed at a person, a how-to request whose object is a person or a
//!   weapon, a dehumanising predicate about a group;
//! * category `allow` patterns cancel overlapping matches (kill + process/lights/time,
//!   shoot + photo, bath bomb);
//! * rule `unless` patterns cancel a rule for texts in a help-seeking, educational, news or
//!   historical frame (suicide *prevention*, how the Manhattan Project built the bomb).
//!
//! Self-harm is split: `self_harm` (methods, intent, encouragement) blocks; `self_harm_support`
//! (coping, prevention, helplines) is flagged with action `allow`, so a pipeline can answer
//! with support instead of a refusal.

mod compile;
mod config;

pub use config::{BUILTIN_POLICY, CategoryConfig, PolicyConfig, RuleConfig};

use compile::{CompiledCategory, compile};

use crate::filter::is_blank;
use crate::pii::{PiiDetector, PiiKind, hits_from_matches};
use crate::scoring::{CategorySetting, Hit, assemble};
use crate::{Action, ContentFilter, Finding, SafetyError, Stage, Verdict};

/// Scores text against a [`PolicyConfig`].
pub struct PolicyFilter {
    categories: Vec<CompiledCategory>,
    pii: Option<PiiDetector>,
}

impl PolicyFilter {
    /// Compiles `config`.
    ///
    /// # Errors
    /// [`SafetyError::InvalidConfig`] / [`SafetyError::InvalidPattern`] naming the field.
    pub fn new(config: &PolicyConfig) -> Result<Self, SafetyError> {
        let categories = compile(config)?;
        let pii = if categories.iter().any(|c| c.pii) {
            Some(PiiDetector::new()?)
        } else {
            None
        };
        Ok(Self { categories, pii })
    }

    /// The filter with the built-in policy.
    ///
    /// # Errors
    /// Only if the built-in policy is malformed (covered by a test).
    pub fn builtin() -> Result<Self, SafetyError> {
        Self::new(&PolicyConfig::builtin()?)
    }

    /// The category names, sorted.
    #[must_use]
    pub fn category_names(&self) -> Vec<&str> {
        self.categories.iter().map(|c| c.name.as_str()).collect()
    }

    fn setting(&self, category: &str) -> CategorySetting {
        self.categories.iter().find(|c| c.name == category).map_or(
            // Unreachable for hits we produce; the strict default fails closed.
            CategorySetting {
                threshold: 0.0,
                action: Action::Block,
            },
            |c| c.setting,
        )
    }

    fn category_hits(&self, text: &str, cat: &CompiledCategory, hits: &mut Vec<Hit>) {
        let allowed: Vec<(usize, usize)> = cat
            .allow
            .iter()
            .flat_map(|re| re.find_iter(text).map(|m| (m.start(), m.end())))
            .collect();
        for rule in &cat.rules {
            if rule.unless.iter().any(|re| re.is_match(text)) {
                continue;
            }
            for re in &rule.regexes {
                for m in re.find_iter(text) {
                    if m.start() == m.end() {
                        continue;
                    }
                    let cancelled = allowed.iter().any(|&(s, e)| m.start() < e && s < m.end());
                    if cancelled {
                        continue;
                    }
                    hits.push(Hit {
                        finding: Finding {
                            category: cat.name.clone(),
                            start: m.start(),
                            end: m.end(),
                            matched: m.as_str().to_owned(),
                            rule: format!("{}.{}", cat.name, rule.id),
                            replacement: rule.redact_as.clone(),
                        },
                        weight: rule.weight,
                    });
                }
            }
        }
        if cat.pii
            && let Some(detector) = &self.pii
        {
            let matches = detector.detect(text, &PiiKind::ALL);
            hits.extend(hits_from_matches(text, &matches, &cat.name));
        }
    }
}

impl ContentFilter for PolicyFilter {
    fn name(&self) -> &str {
        "policy"
    }

    fn check_text(&self, text: &str, _stage: Stage) -> Result<Verdict, SafetyError> {
        if is_blank(text) {
            return Ok(Verdict::allow());
        }
        let mut hits = Vec::new();
        for cat in &self.categories {
            self.category_hits(text, cat, &mut hits);
        }
        Ok(assemble(text, hits, |c| self.setting(c)))
    }
}
