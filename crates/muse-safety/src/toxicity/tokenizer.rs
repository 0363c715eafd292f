//! A port of the Keras `Tokenizer.texts_to_sequences` and `pad_sequences` that the
//! toxicity classifier was trained with (keras `src/legacy/preprocessing/text.py` and
//! `src/utils/sequence_utils.py`, Keras 3.x), read from the `tokenizer.json` that
//! `scripts/convert/toxicity_to_safetensors.py` writes from the package's `tokenizer.pickle`.
//!
//! `text_to_word_sequence`: lowercase (Python `str.lower`, here `str::to_lowercase`; both
//! apply Unicode's default case mapping), replace every character of `filters` by `split`,
//! split on `split`, drop empty pieces. Note that only the characters in `filters` separate
//! words besides `split`: a `\r` or a no-break space stays *inside* a word, as in Keras.
//! Words whose index is `>= num_words` are dropped (the package has no OOV token); unknown
//! words are dropped too.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use crate::SafetyError;

/// The file format this port reads.
const FORMAT: &str = "keras-tokenizer/1";

/// `tokenizer.json` as the converter writes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenizerFile {
    format: String,
    #[serde(default)]
    #[expect(
        dead_code,
        reason = "provenance only; kept so the file documents itself"
    )]
    source: Option<String>,
    filters: String,
    split: String,
    lower: bool,
    char_level: bool,
    num_words: Option<usize>,
    oov_token: Option<String>,
    maxlen: usize,
    padding: String,
    truncating: String,
    labels: Vec<String>,
    word_index: HashMap<String, u32>,
}

/// The Keras word tokenizer plus the package's padding settings.
#[derive(Debug, Clone)]
pub struct KerasTokenizer {
    filters: Vec<char>,
    split: String,
    lower: bool,
    num_words: Option<usize>,
    oov_index: Option<u32>,
    word_index: HashMap<String, u32>,
    maxlen: usize,
    labels: Vec<String>,
}

impl KerasTokenizer {
    /// Reads `tokenizer.json`.
    ///
    /// # Errors
    /// [`SafetyError::Io`] if it cannot be read; [`SafetyError::Model`] naming the file when
    /// it is not valid JSON of the expected shape or uses settings this port does not
    /// implement (character-level tokenizing, post-padding).
    pub fn from_file(path: &Path) -> Result<Self, SafetyError> {
        let bytes = std::fs::read(path).map_err(|source| SafetyError::Io {
            what: "tokenizer file",
            path: path.to_owned(),
            source,
        })?;
        let file: TokenizerFile = serde_json::from_slice(&bytes)
            .map_err(|e| SafetyError::model(path, format!("not a valid tokenizer.json: {e}")))?;
        Self::from_parts(file).map_err(|reason| SafetyError::model(path, reason))
    }

    fn from_parts(f: TokenizerFile) -> Result<Self, String> {
        if f.format != FORMAT {
            return Err(format!("format is {:?}, expected {FORMAT:?}", f.format));
        }
        if f.char_level {
            return Err("char_level tokenizers are not supported".to_owned());
        }
        if f.padding != "pre" || f.truncating != "pre" {
            return Err(format!(
                "padding {:?} / truncating {:?} are not supported (only \"pre\")",
                f.padding, f.truncating
            ));
        }
        if f.split.is_empty() || f.maxlen == 0 {
            return Err("`split` must be non-empty and `maxlen` at least 1".to_owned());
        }
        if let Some((w, _)) = f.word_index.iter().find(|(_, i)| **i == 0) {
            return Err(format!(
                "word {w:?} has index 0, which is reserved for padding"
            ));
        }
        let oov_index = match &f.oov_token {
            Some(t) => Some(
                *f.word_index
                    .get(t)
                    .ok_or_else(|| format!("oov_token {t:?} is not in word_index"))?,
            ),
            None => None,
        };
        Ok(Self {
            filters: f.filters.chars().collect(),
            split: f.split,
            lower: f.lower,
            num_words: f.num_words,
            oov_index,
            word_index: f.word_index,
            maxlen: f.maxlen,
            labels: f.labels,
        })
    }

    /// The label names, in the model's output order.
    #[must_use]
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// The model's input length (`MAXLEN` of the package).
    #[must_use]
    pub fn maxlen(&self) -> usize {
        self.maxlen
    }

    /// The largest word index this tokenizer can produce.
    #[must_use]
    pub fn max_index(&self) -> u32 {
        let limit = self
            .num_words
            .map_or(u32::MAX, |n| u32::try_from(n).unwrap_or(u32::MAX));
        self.word_index
            .values()
            .copied()
            .filter(|&i| i < limit)
            .chain(self.oov_index)
            .max()
            .unwrap_or(0)
    }

    /// Keras `text_to_word_sequence`.
    #[must_use]
    pub fn words(&self, text: &str) -> Vec<String> {
        let lowered;
        let text = if self.lower {
            lowered = text.to_lowercase();
            lowered.as_str()
        } else {
            text
        };
        let mut translated = String::with_capacity(text.len());
        for c in text.chars() {
            if self.filters.contains(&c) {
                translated.push_str(&self.split);
            } else {
                translated.push(c);
            }
        }
        translated
            .split(self.split.as_str())
            .filter(|w| !w.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Keras `texts_to_sequences` for one text: word indices, unknown and rare words dropped
    /// (or mapped to the OOV index when the tokenizer has one).
    #[must_use]
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut ids = Vec::new();
        for w in self.words(text) {
            match self.word_index.get(&w) {
                Some(&i) if self.num_words.is_none_or(|n| (i as usize) < n) => ids.push(i),
                _ => ids.extend(self.oov_index),
            }
        }
        ids
    }

    /// Keras `pad_sequences(maxlen)` with its defaults: zeros in front, and for longer
    /// sequences the *last* `maxlen` ids are kept.
    #[must_use]
    pub fn pad(&self, ids: &[u32]) -> Vec<u32> {
        let keep = &ids[ids.len().saturating_sub(self.maxlen)..];
        let mut out = vec![0; self.maxlen - keep.len()];
        out.extend_from_slice(keep);
        out
    }
}
