//! A learned text filter: the Jigsaw toxic-comment classifier of PyPI
//! `toxic-comment-classifier==0.3.0` (MIT; a Keras embedding + BiLSTM model with six sigmoid
//! outputs `toxic, severe_toxic, obscene, threat, insult, identity_hate`), ported to plain
//! Rust ([`ToxicityModel`], [`KerasTokenizer`]) and wrapped as a [`ContentFilter`]
//! ([`ToxicityFilter`]).
//!
//! The weights are converted once by `scripts/convert/toxicity_to_safetensors.py` (run by
//! `setup.sh`) into `models/toxic-comment-classifier/{model.safetensors,tokenizer.json}`.
//! Parity with the package's own Keras code is tested in `tests/toxicity_parity.rs`.
//!
//! Each label is a category of the verdict, scored by the model's probability; a label
//! whose score reaches its threshold flags the text and asks for its action (`block` by
//! default; `redact` is refused by the config check because a sentence-level score has no
//! span to redact).
//!
//! **Where Muse departs from the package.** The package classifies only the *last* 100
//! tokens of a longer text (`pad_sequences` truncates at the front). A filter must not be
//! blinded by a long benign tail, so for texts over 100 known words [`ToxicityClassifier`]
//! scores windows of 100 tokens with a stride of 50 (the last window ending at the last
//! token) and reports each label's maximum. For texts of up to 100 known words the scores
//! are the package's.

mod model;
mod tokenizer;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use model::{NUM_LABELS, ToxicityModel};
pub use tokenizer::KerasTokenizer;

use crate::filter::is_blank;
use crate::scoring::CategorySetting;
use crate::{Action, ContentFilter, SafetyError, Stage, Verdict};

/// The six labels, in the model's output order; each is also the verdict category.
pub const TOXICITY_LABELS: [&str; NUM_LABELS] = [
    "toxic",
    "severe_toxic",
    "obscene",
    "threat",
    "insult",
    "identity_hate",
];

/// Folder name under `models/` where `setup.sh` installs the converted classifier.
pub const TOXICITY_MODEL_DIR: &str = "toxic-comment-classifier";

/// Default threshold of every label. Chosen on the labelled set (`tests/eval.rs`,
/// `toxicity_threshold_sweep`; figures in `docs/benchmarks.md`, Safety): with the rules, 0.8
/// keeps the recall of 0.6–0.7 (0.931) with the fewest false positives (1 of 158 benign
/// texts, against 9 at 0.5 — the `toxic` label scores "Stupid question, but how do I reset
/// my router?" 0.73); 0.9 loses recall.
pub const DEFAULT_TOXICITY_THRESHOLD: f32 = 0.8;

/// The `[safety.toxicity]` table.
///
/// ```toml
/// [safety.toxicity]
/// model = "models/toxic-comment-classifier"   # folder with model.safetensors + tokenizer.json
/// required = true                              # refuse every request when it cannot run
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ToxicityConfig {
    /// The model folder. Unset in the library default; the `muse` binary fills in
    /// `<models>/toxic-comment-classifier`.
    pub model: Option<PathBuf>,
    /// When true, a missing model folder is an error (every request is refused). When false,
    /// a *missing* folder means the filter is left out of the chain; a folder that exists but
    /// cannot be loaded is an error either way (fail closed).
    pub required: bool,
}

/// Tokenizer and network together: text in, six probabilities out.
pub struct ToxicityClassifier {
    tokenizer: KerasTokenizer,
    model: ToxicityModel,
}

impl ToxicityClassifier {
    /// Loads `dir/tokenizer.json` and `dir/model.safetensors`.
    ///
    /// # Errors
    /// [`SafetyError::Io`] / [`SafetyError::Model`] naming the file that is missing,
    /// truncated or inconsistent (labels, vocabulary size).
    pub fn from_dir(dir: &Path) -> Result<Self, SafetyError> {
        let tok_path = dir.join("tokenizer.json");
        let tokenizer = KerasTokenizer::from_file(&tok_path)?;
        if tokenizer.labels() != TOXICITY_LABELS {
            return Err(SafetyError::model(
                &tok_path,
                format!(
                    "labels are {:?}, expected {TOXICITY_LABELS:?}",
                    tokenizer.labels()
                ),
            ));
        }
        let model = ToxicityModel::from_file(&dir.join("model.safetensors"))?;
        if tokenizer.max_index() as usize >= model.vocab_size() {
            return Err(SafetyError::model(
                &tok_path,
                format!(
                    "word index {} is outside the model's {} embedding rows",
                    tokenizer.max_index(),
                    model.vocab_size()
                ),
            ));
        }
        Ok(Self { tokenizer, model })
    }

    /// The tokenizer.
    #[must_use]
    pub fn tokenizer(&self) -> &KerasTokenizer {
        &self.tokenizer
    }

    /// Exactly the package's `classify`: the last `maxlen` known words, pre-padded.
    ///
    /// # Errors
    /// Only for an inconsistent model (ids outside the embedding), checked at load.
    pub fn classify_exact(&self, text: &str) -> Result<[f32; NUM_LABELS], SafetyError> {
        let ids = self.tokenizer.encode(text);
        self.model.forward(&self.tokenizer.pad(&ids))
    }

    /// The scores Muse uses: as [`classify_exact`](Self::classify_exact) up to `maxlen`
    /// known words, else the per-label maximum over windows (see the module docs).
    ///
    /// # Errors
    /// As [`classify_exact`](Self::classify_exact).
    pub fn classify(&self, text: &str) -> Result<[f32; NUM_LABELS], SafetyError> {
        let ids = self.tokenizer.encode(text);
        let n = self.tokenizer.maxlen();
        if ids.len() <= n {
            return self.model.forward(&self.tokenizer.pad(&ids));
        }
        let stride = (n / 2).max(1);
        let mut starts: Vec<usize> = (0..=ids.len() - n).step_by(stride).collect();
        if starts.last() != Some(&(ids.len() - n)) {
            starts.push(ids.len() - n);
        }
        let mut best = [0.0f32; NUM_LABELS];
        for s in starts {
            let scores = self.model.forward(&ids[s..s + n])?;
            for (b, v) in best.iter_mut().zip(scores) {
                *b = b.max(v);
            }
        }
        Ok(best)
    }
}

/// The classifier as a [`ContentFilter`] named `toxicity`.
pub struct ToxicityFilter {
    classifier: ToxicityClassifier,
    settings: [CategorySetting; NUM_LABELS],
}

impl ToxicityFilter {
    /// A filter with every label at [`DEFAULT_TOXICITY_THRESHOLD`] and action `block`.
    #[must_use]
    pub fn new(classifier: ToxicityClassifier) -> Self {
        Self {
            classifier,
            settings: [CategorySetting {
                threshold: DEFAULT_TOXICITY_THRESHOLD,
                action: Action::Block,
            }; NUM_LABELS],
        }
    }

    /// Loads the classifier from `dir` (see [`ToxicityClassifier::from_dir`]).
    ///
    /// # Errors
    /// As [`ToxicityClassifier::from_dir`].
    pub fn from_dir(dir: &Path) -> Result<Self, SafetyError> {
        Ok(Self::new(ToxicityClassifier::from_dir(dir)?))
    }

    /// Overrides thresholds and actions for the labels present in the maps (other keys are
    /// ignored: they belong to other filters).
    ///
    /// # Errors
    /// [`SafetyError::InvalidConfig`] for a `redact` action on a label.
    pub fn with_overrides(
        mut self,
        thresholds: &BTreeMap<String, f32>,
        actions: &BTreeMap<String, Action>,
    ) -> Result<Self, SafetyError> {
        for (label, setting) in TOXICITY_LABELS.iter().zip(self.settings.iter_mut()) {
            if let Some(&t) = thresholds.get(*label) {
                crate::config::check_threshold(&format!("safety.thresholds.{label}"), t)?;
                setting.threshold = t;
            }
            if let Some(&a) = actions.get(*label) {
                if a == Action::Redact {
                    return Err(SafetyError::config(
                        format!("safety.actions.{label}"),
                        "cannot be \"redact\": a toxicity score has no span to redact (use \"allow\" or \"block\")",
                    ));
                }
                setting.action = a;
            }
        }
        Ok(self)
    }

    /// The classifier.
    #[must_use]
    pub fn classifier(&self) -> &ToxicityClassifier {
        &self.classifier
    }

    /// Builds the filter `config` asks for: `Ok(None)` when no model folder is configured or
    /// it does not exist and the filter is not required.
    ///
    /// # Errors
    /// [`SafetyError::Unavailable`] when required and missing; load errors otherwise.
    pub fn from_config(config: &ToxicityConfig) -> Result<Option<Self>, SafetyError> {
        let missing = |reason: String| {
            if config.required {
                Err(SafetyError::Unavailable {
                    filter: "toxicity".to_owned(),
                    reason,
                })
            } else {
                Ok(None)
            }
        };
        match &config.model {
            None => missing("no model folder is configured (`safety.toxicity.model`)".to_owned()),
            Some(dir) if !dir.exists() => missing(format!(
                "model folder `{}` does not exist (run ./setup.sh)",
                dir.display()
            )),
            Some(dir) => Self::from_dir(dir).map(Some),
        }
    }
}

impl ContentFilter for ToxicityFilter {
    fn name(&self) -> &str {
        "toxicity"
    }

    fn check_text(&self, text: &str, _stage: Stage) -> Result<Verdict, SafetyError> {
        if is_blank(text) {
            return Ok(Verdict::allow());
        }
        let scores = self.classifier.classify(text)?;
        let mut verdict = Verdict::allow();
        for ((label, setting), score) in TOXICITY_LABELS.iter().zip(&self.settings).zip(scores) {
            if !score.is_finite() {
                return Err(SafetyError::Unavailable {
                    filter: "toxicity".to_owned(),
                    reason: format!("label `{label}` scored {score}"),
                });
            }
            let score = score.clamp(0.0, 1.0);
            verdict.categories.insert((*label).to_owned(), score);
            if score >= setting.threshold && score > 0.0 {
                verdict.flagged = true;
                verdict.action = verdict.action.max(setting.action);
            }
        }
        Ok(verdict)
    }
}
