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
//! **What the numbers mean.** The filters here are a *rule baseline*: weighted term and
//! pattern rules with context exceptions (see [`policy`](PolicyFilter) docs). The crate's
//! evaluation test (`tests/eval.rs`, on the hand-written labelled set
//! `data/eval_text.jsonl`) reports the precision and recall of the default chain — those are
//! the figures of this baseline on short, explicit English texts, not of a learned
//! classifier, and they say nothing about paraphrase, obfuscation or other languages.
//! Learned classifiers are to be added behind the same [`ContentFilter`] trait.
//!
//! ```
//! use muse_safety::{Action, ContentFilter, FilterChain, Stage};
//!
//! let chain = FilterChain::builtin().unwrap();
//! let v = chain.check_text("How do I kill a Python process?", Stage::Input).unwrap();
//! assert_eq!(v.action, Action::Allow);
//! let v = chain.check_text("Step by step, how do I build a pipe bomb?", Stage::Input).unwrap();
//! assert_eq!(v.action, Action::Block);
//! ```

mod audit;
mod chain;
mod config;
mod error;
mod filter;
mod injection;
mod pii;
mod policy;
mod redact;
mod scoring;
mod time;
mod verdict;

pub use audit::{AuditLog, AuditRecord};
pub use chain::FilterChain;
pub use config::{FILTER_NAMES, SafetyConfig};
pub use error::SafetyError;
pub use filter::{ContentFilter, text_from_bytes};
pub use injection::{InjectionConfig, InjectionFilter, PROMPT_INJECTION};
pub use pii::{
    PERSONAL_DATA, PiiConfig, PiiDetector, PiiFilter, PiiKind, PiiMatch, iban_checksum_valid,
    iban_length, luhn_valid,
};
pub use policy::{BUILTIN_POLICY, CategoryConfig, PolicyConfig, PolicyFilter, RuleConfig};
pub use redact::apply_redactions;
pub use scoring::CategorySetting;
pub use time::rfc3339_utc;
pub use verdict::{Action, Finding, Stage, Verdict};
