//! Prompt-injection markers in retrieved documents.
//!
//! A document pulled into the context window can carry text addressed to the model rather
//! than the reader: "ignore all previous instructions", a fake `<|im_start|>system` turn, a
//! request to reveal the system prompt. This filter finds such markers and, for
//! [`Stage::Retrieved`], neutralises them by replacing each with
//! `[removed: possible prompt injection]` (action `redact` by default), so the rest of the
//! document can still be used. In prompts and outputs the same markers are reported (category
//! `prompt_injection`, flagged) but the action is `allow`: a user typing "ignore previous
//! instructions" is not attacking themselves; the pipeline may still log it.
//!
//! The markers are rules, like the policy filter's: they catch the common, literal phrasing
//! and the chat-template role tags of popular model families, not paraphrases.

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::filter::is_blank;
use crate::scoring::{CategorySetting, Hit, assemble};
use crate::{Action, ContentFilter, Finding, SafetyError, Stage, Verdict};

/// The category this filter reports.
pub const PROMPT_INJECTION: &str = "prompt_injection";

/// (id, pattern, weight). Patterns are case-insensitive.
const MARKERS: &[(&str, &str, f32)] = &[
    (
        "ignore_previous",
        r"\b(?:ignore|forget|skip|override|bypass)\s+(?:all\s+|any\s+|every\s+)?(?:of\s+)?(?:the\s+|your\s+|my\s+|these\s+|those\s+)?(?:previous|prior|above|preceding|earlier|foregoing|original|initial|system)\s+(?:instructions?|prompts?|directions?|directives?|rules|guidelines|messages?|context|commands?)",
        0.95,
    ),
    (
        "disregard",
        r"\b(?:disregard\s+(?:all\s+|any\s+|everything\s+)?(?:of\s+)?(?:the\s+|your\s+)?(?:above|previous|prior|preceding|earlier|foregoing|instructions?|system prompt|guidelines|rules)\b|ignore\s+(?:all\s+|everything\s+)?(?:of\s+)?(?:the\s+)?(?:above|foregoing)(?:\s+and\b|[.,;:!]|\s*$))",
        0.9,
    ),
    (
        "forget_everything",
        r"\bforget\s+(?:everything|all)\s+(?:you\s+(?:were|have been|'ve been)\s+told|above|before this|previously said)",
        0.9,
    ),
    (
        "new_identity",
        r"\byou\s+are\s+now\s+(?:a\s+|an\s+|in\s+)?(?:\w+\s+){0,2}(?:dan|assistant|ai|model|chatbot|bot|persona|character|jailbroken|unrestricted|unfiltered|uncensored|developer mode|free from|no longer)",
        0.8,
    ),
    (
        "from_now_on",
        r"\bfrom\s+now\s+on,?\s+(?:you\s+(?:will|must|are|shall|should)|respond|answer|act|ignore)",
        0.6,
    ),
    (
        "act_unrestricted",
        r"\b(?:act|behave|respond|pretend)\s+(?:as\s+if\s+you\s+(?:are|were)|as|like)\s+(?:an?\s+)?(?:unrestricted|unfiltered|uncensored|jailbroken|evil)\b",
        0.85,
    ),
    (
        "system_prompt_label",
        r"(?m)^\s*(?:system\s+prompt|new\s+system\s+prompt|new\s+instructions|system\s+override|admin\s+override)\s*:",
        0.9,
    ),
    ("role_line", r"(?m)^\s*(?:system|assistant)\s*:", 0.5),
    (
        "role_tag",
        r"<\|\s*(?:im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id|end_header_id|begin_of_text)\s*\|>|\[/?INST\]|<</?SYS>>|</?(?:system|instructions?)>",
        0.95,
    ),
    (
        "markdown_role_header",
        r"(?m)^\s*#{2,}\s*(?:instruction|instructions|system|system prompt|response)\s*:?\s*$",
        0.8,
    ),
    (
        "reveal_prompt",
        r"\b(?:reveal|print|show|repeat|output|display|leak|disclose|tell\s+me|give\s+me|what\s+(?:is|are))\s+(?:me\s+)?(?:your|the)\s+(?:full\s+|entire\s+|exact\s+)?(?:system\s+prompt|initial\s+(?:instructions|prompt)|hidden\s+(?:instructions|prompt)|original\s+instructions|developer\s+(?:message|instructions))",
        0.9,
    ),
    (
        "conceal_from_user",
        r"\b(?:do\s+not|don't|never)\s+(?:tell|inform|alert|mention\s+(?:this\s+)?to|let)\s+the\s+user\b",
        0.8,
    ),
    (
        "exfiltrate",
        r"\b(?:send|post|forward|upload|email|transmit)\s+(?:the\s+|all\s+|this\s+|any\s+)?(?:conversation|chat\s+history|user(?:'s)?\s+data|api\s+keys?|credentials|passwords?|secrets?|system\s+prompt)\s+to\b",
        0.85,
    ),
];

/// Base64 alphabet run; the length floor is applied in code.
const BASE64_BLOB: &str = r"[A-Za-z0-9+/]{40,}={0,2}";

/// Settings of [`InjectionFilter`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InjectionConfig {
    /// `prompt_injection` triggers when its score is `>= threshold`.
    pub threshold: f32,
    /// Action for retrieved documents (default: redact, i.e. neutralise the markers).
    pub retrieved_action: Action,
    /// Action for prompts and outputs (default: allow, reported only).
    pub other_action: Action,
    /// Also flag long base64-looking blobs, which can smuggle encoded instructions (off by
    /// default: they are common in legitimate documents, e.g. data URIs).
    pub detect_base64: bool,
    /// Minimum length of a base64 blob when `detect_base64` is on.
    pub base64_min_len: usize,
    /// What a neutralised marker is replaced with.
    pub replacement: String,
}

impl Default for InjectionConfig {
    fn default() -> Self {
        Self {
            threshold: 0.5,
            retrieved_action: Action::Redact,
            other_action: Action::Allow,
            detect_base64: false,
            base64_min_len: 120,
            replacement: "[removed: possible prompt injection]".to_owned(),
        }
    }
}

/// Detects and neutralises prompt-injection markers.
pub struct InjectionFilter {
    markers: Vec<(&'static str, Regex, f32)>,
    base64: Regex,
    config: InjectionConfig,
}

impl InjectionFilter {
    /// Compiles the markers.
    ///
    /// # Errors
    /// [`SafetyError::InvalidConfig`] for a threshold outside `[0, 1]` or a zero
    /// `base64_min_len`.
    pub fn new(config: InjectionConfig) -> Result<Self, SafetyError> {
        crate::config::check_threshold("safety.injection.threshold", config.threshold)?;
        if config.base64_min_len < 40 {
            return Err(SafetyError::config(
                "safety.injection.base64_min_len",
                format!("must be at least 40, got {}", config.base64_min_len),
            ));
        }
        let markers = MARKERS
            .iter()
            .map(|&(id, p, w)| {
                Regex::new(&format!("(?i){p}"))
                    .map(|re| (id, re, w))
                    .map_err(|e| SafetyError::pattern(format!("injection.{id}"), e))
            })
            .collect::<Result<_, _>>()?;
        let base64 =
            Regex::new(BASE64_BLOB).map_err(|e| SafetyError::pattern("injection.base64", e))?;
        Ok(Self {
            markers,
            base64,
            config,
        })
    }

    fn hit(&self, text: &str, start: usize, end: usize, rule: &str, weight: f32) -> Hit {
        Hit {
            finding: Finding {
                category: PROMPT_INJECTION.to_owned(),
                start,
                end,
                matched: text[start..end].to_owned(),
                rule: format!("injection.{rule}"),
                replacement: Some(self.config.replacement.clone()),
            },
            weight,
        }
    }
}

impl ContentFilter for InjectionFilter {
    fn name(&self) -> &str {
        "injection"
    }

    fn check_text(&self, text: &str, stage: Stage) -> Result<Verdict, SafetyError> {
        if is_blank(text) {
            return Ok(Verdict::allow());
        }
        let mut hits = Vec::new();
        for (id, re, weight) in &self.markers {
            for m in re.find_iter(text) {
                hits.push(self.hit(text, m.start(), m.end(), id, *weight));
            }
        }
        if self.config.detect_base64 {
            for m in self.base64.find_iter(text) {
                // Require mixed case and a digit: long words and hex dumps are not base64.
                let s = m.as_str();
                let mixed = s.bytes().any(|b| b.is_ascii_uppercase())
                    && s.bytes().any(|b| b.is_ascii_lowercase())
                    && s.bytes().any(|b| b.is_ascii_digit());
                if s.len() >= self.config.base64_min_len && mixed {
                    hits.push(self.hit(text, m.start(), m.end(), "base64_blob", 0.5));
                }
            }
        }
        let setting = CategorySetting {
            threshold: self.config.threshold,
            action: match stage {
                Stage::Retrieved => self.config.retrieved_action,
                Stage::Input | Stage::Output => self.config.other_action,
            },
        };
        Ok(assemble(text, hits, |_| setting))
    }
}
