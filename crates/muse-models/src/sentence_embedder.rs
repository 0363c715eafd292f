//! Sentence embeddings from a sentence-transformers model folder (Reimers & Gurevych 2019,
//! "Sentence-BERT", arXiv:1908.10084): a [`BertModel`], mean pooling of its last hidden states
//! over the real tokens, then L2 normalisation — the `Transformer → Pooling → Normalize` modules
//! of e.g. `sentence-transformers/all-MiniLM-L6-v2`.
//!
//! The folder holds `config.json`, `tokenizer.json`, `model.safetensors` (or a sharded index),
//! `1_Pooling/config.json` and `sentence_bert_config.json` (`max_seq_length`). Some published
//! `tokenizer.json` files switch on fixed padding (all-MiniLM-L6-v2 pads every input to 128
//! tokens) and truncation at another length; both are switched off here: sequences run packed
//! without padding, and truncation to `max_seq_length` is ours, so it can be reported.

use crate::ModelError;
use crate::bert::{BertConfigFile, BertModel, COMPUTE_DTYPE, PackedBatch};
use crate::safetensors_dir::SafetensorsDir;
use candle_core::Device;
use std::path::{Path, PathBuf};
use tokenizers::{Encoding, Tokenizer, TruncationParams};

/// Sentences per forward pass. Sorted by length, so a batch holds similar lengths and its
/// sequences share the threads evenly in attention.
pub const DEFAULT_BATCH_SIZE: usize = 32;

/// `1_Pooling/config.json`.
#[derive(Debug, Default, serde::Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    word_embedding_dimension: Option<usize>,
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
    #[serde(default)]
    pooling_mode_weightedmean_tokens: bool,
    #[serde(default)]
    pooling_mode_lasttoken: bool,
}

/// `sentence_bert_config.json`.
#[derive(Debug, Default, serde::Deserialize)]
struct SentenceBertConfig {
    #[serde(default)]
    max_seq_length: Option<usize>,
    #[serde(default)]
    do_lower_case: bool,
}

/// An input that was cut to the model's `max_seq_length`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TruncatedInput {
    /// Position in the list given to [`SentenceEmbedder::embed`].
    pub index: usize,
    /// Tokens the full input has, special tokens included.
    pub tokens: usize,
    /// Tokens kept.
    pub kept: usize,
}

/// Unit-length sentence vectors, in input order.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Embeddings {
    pub dim: usize,
    pub vectors: Vec<Vec<f32>>,
    /// Inputs longer than `max_seq_length`, embedded from their first tokens only.
    pub truncated: Vec<TruncatedInput>,
}

/// A BERT sentence-embedding model loaded from a sentence-transformers folder.
///
/// ```no_run
/// # fn main() -> Result<(), muse_models::ModelError> {
/// let m = muse_models::SentenceEmbedder::load("models/all-MiniLM-L6-v2".as_ref())?;
/// let e = m.embed(&["A cat sits on the mat.", "Un chat est assis."])?;
/// let cos: f32 = e.vectors[0].iter().zip(&e.vectors[1]).map(|(a, b)| a * b).sum();
/// # let _ = cos; Ok(()) }
/// ```
pub struct SentenceEmbedder {
    model: BertModel,
    /// No padding, no truncation: gives every input's full token count.
    tokenizer: Tokenizer,
    /// Truncates to `max_seq_length` with the tokenizer's own strategy (special tokens kept).
    truncating: Tokenizer,
    max_seq_length: usize,
    lowercase: bool,
    batch_size: usize,
    device: Device,
    dir: PathBuf,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ModelError> {
    let bytes = std::fs::read(path).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ModelError::Config(format!("{}: {e}", path.display())))
}

fn tok_err(e: impl std::fmt::Display) -> ModelError {
    ModelError::Tokenizer(e.to_string())
}

impl SentenceEmbedder {
    /// Load a sentence-transformers folder. Every missing or malformed piece is a typed error
    /// naming the file (see [`ModelError`]).
    pub fn load(dir: &Path) -> Result<Self, ModelError> {
        let config_path = dir.join("config.json");
        if !config_path.is_file() {
            return Err(ModelError::MissingFile {
                path: config_path,
                what: "the model configuration (config.json)",
            });
        }
        let cfg = read_json::<BertConfigFile>(&config_path)?.into_config()?;

        let tok_path = dir.join("tokenizer.json");
        if !tok_path.is_file() {
            return Err(ModelError::MissingFile {
                path: tok_path,
                what: "the tokenizer (tokenizer.json)",
            });
        }
        let mut tokenizer = Tokenizer::from_file(&tok_path)
            .map_err(|e| ModelError::Tokenizer(format!("{}: {e}", tok_path.display())))?;
        tokenizer.with_padding(None);
        tokenizer.with_truncation(None).map_err(tok_err)?;

        let pooling_path = dir.join("1_Pooling").join("config.json");
        // A plain transformers folder has no pooling module; sentence-transformers then uses
        // mean pooling, and so do we.
        let pooling: PoolingConfig = if pooling_path.is_file() {
            read_json(&pooling_path)?
        } else {
            PoolingConfig {
                pooling_mode_mean_tokens: true,
                ..PoolingConfig::default()
            }
        };
        check_pooling(&pooling, &pooling_path, cfg.hidden_size)?;

        let st_path = dir.join("sentence_bert_config.json");
        let st: SentenceBertConfig = if st_path.is_file() {
            read_json(&st_path)?
        } else {
            SentenceBertConfig::default()
        };
        let max_seq_length = st
            .max_seq_length
            .unwrap_or(cfg.max_position_embeddings)
            .min(cfg.max_position_embeddings);
        if max_seq_length < 2 {
            return Err(ModelError::Config(format!(
                "{}: `max_seq_length` {max_seq_length} leaves no room for [CLS] and [SEP]",
                st_path.display()
            )));
        }
        let mut truncating = tokenizer.clone();
        truncating
            .with_truncation(Some(TruncationParams {
                max_length: max_seq_length,
                ..TruncationParams::default()
            }))
            .map_err(tok_err)?;

        let weights = SafetensorsDir::open(dir)?;
        let prefixed = !weights.contains("embeddings.word_embeddings.weight")
            && weights.contains("bert.embeddings.word_embeddings.weight");
        let device = Device::Cpu;
        let vb = weights.into_var_builder(COMPUTE_DTYPE, &device);
        let vb = if prefixed { vb.pp("bert") } else { vb };
        let model = BertModel::new(&cfg, vb)?;
        Ok(Self {
            model,
            tokenizer,
            truncating,
            max_seq_length,
            lowercase: st.do_lower_case,
            batch_size: DEFAULT_BATCH_SIZE,
            device,
            dir: dir.to_path_buf(),
        })
    }

    /// Sentences per forward pass (at least 1).
    pub fn with_batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }

    /// Length of the vectors.
    pub fn dim(&self) -> usize {
        self.model.config().hidden_size
    }

    /// Longest input in tokens (special tokens included); longer ones are truncated.
    pub fn max_seq_length(&self) -> usize {
        self.max_seq_length
    }

    /// The folder the model was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Token ids of `text` as the model sees them (after truncation), special tokens included.
    pub fn token_ids(&self, text: &str) -> Result<Vec<u32>, ModelError> {
        Ok(self.encode(&[text])?.0.remove(0).get_ids().to_vec())
    }

    /// Byte spans `(start, end)` in `text` of its tokens, special tokens excluded and nothing
    /// truncated: what a caller needs to cut a long text into pieces the model takes whole.
    /// (For a `do_lower_case` model the spans are those of the text as given.)
    pub fn token_spans(&self, text: &str) -> Result<Vec<(usize, usize)>, ModelError> {
        let enc = self.tokenizer.encode(text, false).map_err(tok_err)?;
        Ok(enc.get_offsets().to_vec())
    }

    /// Encode every text, truncating those over `max_seq_length`.
    fn encode(&self, texts: &[&str]) -> Result<(Vec<Encoding>, Vec<TruncatedInput>), ModelError> {
        let prepared: Vec<String> = texts
            .iter()
            .map(|t| {
                if self.lowercase {
                    t.to_lowercase()
                } else {
                    (*t).to_string()
                }
            })
            .collect();
        let mut encs = self
            .tokenizer
            .encode_batch(prepared.iter().map(String::as_str).collect(), true)
            .map_err(tok_err)?;
        let mut truncated = Vec::new();
        for (i, enc) in encs.iter_mut().enumerate() {
            let tokens = enc.len();
            if tokens > self.max_seq_length {
                *enc = self
                    .truncating
                    .encode(prepared[i].as_str(), true)
                    .map_err(tok_err)?;
                truncated.push(TruncatedInput {
                    index: i,
                    tokens,
                    kept: enc.len(),
                });
            }
        }
        Ok((encs, truncated))
    }

    /// Embed each text: mean of the last hidden states over its tokens, scaled to unit length.
    /// An empty list gives an empty result; an empty string is embedded from `[CLS] [SEP]`.
    pub fn embed(&self, texts: &[&str]) -> Result<Embeddings, ModelError> {
        // Run inside the rayon pool: the ~40 parallel steps of a forward pass (matmuls and fused
        // ops) then fork and join among workers instead of waking the pool from outside each
        // time, which matters for single-sentence latency.
        rayon::scope(|_| self.embed_in_pool(texts))
    }

    fn embed_in_pool(&self, texts: &[&str]) -> Result<Embeddings, ModelError> {
        let dim = self.dim();
        let (encs, truncated) = self.encode(texts)?;
        let mut order: Vec<usize> = (0..encs.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(encs[i].len()));
        let mut vectors = vec![Vec::new(); encs.len()];
        for chunk in order.chunks(self.batch_size) {
            let seqs: Vec<(&[u32], &[u32])> = chunk
                .iter()
                .map(|&i| (encs[i].get_ids(), encs[i].get_type_ids()))
                .collect();
            let batch = PackedBatch::new(&seqs, &self.device)?;
            let hidden = self
                .model
                .forward(&batch)?
                .flatten_all()?
                .to_vec1::<f32>()?;
            for (&i, &(start, len)) in chunk.iter().zip(batch.seqs()) {
                vectors[i] = mean_pool_normalize(&hidden[start * dim..(start + len) * dim], dim);
            }
        }
        Ok(Embeddings {
            dim,
            vectors,
            truncated,
        })
    }
}

/// Mean over the rows of a `(len, dim)` block, then divided by its L2 norm (floored at 1e-12,
/// as `torch.nn.functional.normalize` does).
fn mean_pool_normalize(rows: &[f32], dim: usize) -> Vec<f32> {
    let mut v = vec![0f32; dim];
    let n = rows.len() / dim;
    for row in rows.chunks_exact(dim) {
        for (a, b) in v.iter_mut().zip(row) {
            *a += b;
        }
    }
    let inv_n = 1.0 / n.max(1) as f32;
    v.iter_mut().for_each(|a| *a *= inv_n);
    let norm = v.iter().map(|a| a * a).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|a| *a /= norm);
    v
}

fn check_pooling(p: &PoolingConfig, path: &Path, hidden: usize) -> Result<(), ModelError> {
    let unsupported: Vec<&str> = [
        ("cls_token", p.pooling_mode_cls_token),
        ("max_tokens", p.pooling_mode_max_tokens),
        ("mean_sqrt_len_tokens", p.pooling_mode_mean_sqrt_len_tokens),
        ("weightedmean_tokens", p.pooling_mode_weightedmean_tokens),
        ("lasttoken", p.pooling_mode_lasttoken),
    ]
    .into_iter()
    .filter(|(_, on)| *on)
    .map(|(name, _)| name)
    .collect();
    if !unsupported.is_empty() {
        return Err(ModelError::UnsupportedPooling {
            path: path.to_path_buf(),
            modes: unsupported.join(", "),
        });
    }
    if !p.pooling_mode_mean_tokens {
        return Err(ModelError::UnsupportedPooling {
            path: path.to_path_buf(),
            modes: "none (no pooling mode is switched on)".into(),
        });
    }
    if let Some(d) = p.word_embedding_dimension
        && d != hidden
    {
        return Err(ModelError::Config(format!(
            "{}: `word_embedding_dimension` {d} differs from the model's hidden size {hidden}",
            path.display()
        )));
    }
    Ok(())
}
