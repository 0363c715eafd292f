//! BERT encoder (Devlin et al. 2019, "BERT: Pre-training of Deep Bidirectional Transformers for
//! Language Understanding", arXiv:1810.04805), as laid out by Hugging Face transformers'
//! `BertModel` (`models/bert/modeling_bert.py`): word + position + token-type embeddings and a
//! LayerNorm, then N post-norm encoder layers, each
//!
//! ```text
//! a = LayerNorm(x + Wo · MultiHeadAttention(Wq x, Wk x, Wv x))
//! y = LayerNorm(a + W2 · GELU(W1 a))          GELU(z) = z/2 · (1 + erf(z/√2))
//! ```
//!
//! Sequences run *packed*: a batch is one `(tokens, hidden)` matrix holding every sequence's
//! tokens back to back, with no padding. Every matrix product then covers exactly the real tokens
//! of the batch, and attention — the only step that mixes tokens — runs per sequence over its own
//! rows, so no attention mask is needed. Everything between the matrix products (biases, attention,
//! GELU, residual + LayerNorm) runs as fused row-parallel steps ([`crate::bert_ops`]).
//! This returns the last hidden states; pooling them into a sentence vector is
//! [`crate::sentence_embedder`]'s job.

use crate::ModelError;
use crate::bert_ops::{AddNorm, BiasGelu, Gemm, PackedAttention, pack_panels};
use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Embedding, VarBuilder};

/// `architectures` values whose weights are a BERT encoder (optionally under a `bert.` prefix).
pub const SUPPORTED_ARCHITECTURES: &[&str] = &[
    "BertModel",
    "BertForMaskedLM",
    "BertForPreTraining",
    "BertForSequenceClassification",
];

/// `config.json` of a Hugging Face BERT checkpoint, field for field.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct BertConfigFile {
    #[serde(default)]
    pub architectures: Option<Vec<String>>,
    #[serde(default)]
    pub model_type: Option<String>,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default = "default_hidden_act")]
    pub hidden_act: String,
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab_size")]
    pub type_vocab_size: usize,
    #[serde(default = "default_layer_norm_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "default_position_embedding_type")]
    pub position_embedding_type: String,
}

fn default_hidden_act() -> String {
    "gelu".into()
}
fn default_type_vocab_size() -> usize {
    2
}
fn default_layer_norm_eps() -> f64 {
    1e-12
}
fn default_position_embedding_type() -> String {
    "absolute".into()
}

/// The runtime configuration of a [`BertModel`].
#[derive(Debug, Clone, PartialEq)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f64,
}

impl BertConfig {
    /// Size of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }
}

impl BertConfigFile {
    /// Check what this implementation supports and build the runtime config.
    pub fn into_config(self) -> Result<BertConfig, ModelError> {
        crate::safetensors_dir::check_hf_identity(
            self.architectures.as_deref(),
            self.model_type.as_deref(),
            SUPPORTED_ARCHITECTURES,
            "bert",
        )?;
        // "gelu" in transformers' ACT2FN is the exact erf form; the tanh approximations differ.
        if self.hidden_act != "gelu" {
            return Err(ModelError::Config(format!(
                "`hidden_act` is `{}`; only `gelu` (the erf form) is supported",
                self.hidden_act
            )));
        }
        if self.position_embedding_type != "absolute" {
            return Err(ModelError::Config(format!(
                "`position_embedding_type` is `{}`; only `absolute` is supported",
                self.position_embedding_type
            )));
        }
        for (name, v) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
        ] {
            if v == 0 {
                return Err(ModelError::Config(format!("`{name}` must be > 0")));
            }
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(ModelError::Config(format!(
                "`hidden_size` {} is not a multiple of `num_attention_heads` {}",
                self.hidden_size, self.num_attention_heads
            )));
        }
        Ok(BertConfig {
            vocab_size: self.vocab_size,
            hidden_size: self.hidden_size,
            num_hidden_layers: self.num_hidden_layers,
            num_attention_heads: self.num_attention_heads,
            intermediate_size: self.intermediate_size,
            max_position_embeddings: self.max_position_embeddings,
            type_vocab_size: self.type_vocab_size,
            layer_norm_eps: self.layer_norm_eps,
        })
    }
}

/// Several tokenized sequences packed back to back: the input of [`BertModel::forward`].
#[derive(Debug, Clone)]
pub struct PackedBatch {
    input_ids: Tensor,
    token_type_ids: Tensor,
    position_ids: Tensor,
    /// `(first row, length)` of each sequence, in order and without gaps.
    seqs: Vec<(usize, usize)>,
}

impl PackedBatch {
    /// Pack `(token ids, token type ids)` pairs. Every sequence must be non-empty and its two
    /// slices of equal length.
    pub fn new(seqs: &[(&[u32], &[u32])], device: &Device) -> Result<Self, ModelError> {
        let total: usize = seqs.iter().map(|(ids, _)| ids.len()).sum();
        let mut ids = Vec::with_capacity(total);
        let mut types = Vec::with_capacity(total);
        let mut pos = Vec::with_capacity(total);
        let mut spans = Vec::with_capacity(seqs.len());
        for (i, (s_ids, s_types)) in seqs.iter().enumerate() {
            if s_ids.is_empty() || s_ids.len() != s_types.len() {
                return Err(ModelError::Config(format!(
                    "sequence {i}: {} token ids and {} token type ids (need equal, non-zero counts)",
                    s_ids.len(),
                    s_types.len()
                )));
            }
            spans.push((ids.len(), s_ids.len()));
            ids.extend_from_slice(s_ids);
            types.extend_from_slice(s_types);
            pos.extend(0..s_ids.len() as u32);
        }
        Ok(Self {
            input_ids: Tensor::from_vec(ids, total, device)?,
            token_type_ids: Tensor::from_vec(types, total, device)?,
            position_ids: Tensor::from_vec(pos, total, device)?,
            seqs: spans,
        })
    }

    /// `(first row, length)` of each sequence in the packed hidden states.
    pub fn seqs(&self) -> &[(usize, usize)] {
        &self.seqs
    }

    /// Number of tokens over all sequences.
    pub fn tokens(&self) -> usize {
        self.seqs.iter().map(|s| s.1).sum()
    }
}

/// A dense layer. The checkpoint stores `weight` as `(out, in)`; it is kept transposed,
/// `(in, out)` row-major, the layout [`Gemm`] splits by output columns. The bias is added by the
/// fused step after the matmul.
#[derive(Debug, Clone)]
struct Dense {
    weight_t: Vec<f32>,
    /// `weight_t` again, packed for the few-rows kernel (`bert_ops::pack_panels`).
    panels: Vec<f32>,
    in_dim: usize,
    out_dim: usize,
    bias: Vec<f32>,
}

impl Dense {
    fn new(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<Self, ModelError> {
        let w = vb.get((out_dim, in_dim), "weight")?;
        let weight_t: Vec<f32> = w.t()?.contiguous()?.flatten_all()?.to_vec1()?;
        Ok(Self {
            panels: pack_panels(&weight_t, in_dim, out_dim),
            weight_t,
            in_dim,
            out_dim,
            bias: vb.get(out_dim, "bias")?.to_vec1()?,
        })
    }

    /// Stack dense layers with the same input along the output dimension.
    fn concat(parts: &[Dense]) -> Self {
        let in_dim = parts.first().map_or(0, |p| p.in_dim);
        let out_dim = parts.iter().map(|p| p.out_dim).sum();
        let mut weight_t = Vec::with_capacity(in_dim * out_dim);
        for r in 0..in_dim {
            for p in parts {
                weight_t.extend_from_slice(&p.weight_t[r * p.out_dim..(r + 1) * p.out_dim]);
            }
        }
        Self {
            panels: pack_panels(&weight_t, in_dim, out_dim),
            weight_t,
            in_dim,
            out_dim,
            bias: parts.iter().flat_map(|p| p.bias.iter().copied()).collect(),
        }
    }

    /// `x · Wᵀ` without the bias.
    fn matmul(&self, x: &Tensor) -> Result<Tensor, ModelError> {
        Ok(x.apply_op1_no_bwd(&Gemm {
            w: &self.weight_t,
            panels: &self.panels,
            k: self.in_dim,
            n: self.out_dim,
        })?)
    }
}

/// A LayerNorm's parameters (checkpoint keys `LayerNorm.weight`, `LayerNorm.bias`).
#[derive(Debug, Clone)]
struct Norm {
    weight: Vec<f32>,
    bias: Vec<f32>,
    eps: f32,
}

impl Norm {
    fn new(size: usize, eps: f64, vb: VarBuilder) -> Result<Self, ModelError> {
        Ok(Self {
            weight: vb.get(size, "weight")?.to_vec1()?,
            bias: vb.get(size, "bias")?.to_vec1()?,
            eps: eps as f32,
        })
    }

    /// The fused `LayerNorm(inputs… + dense_bias)` step.
    fn op<'a>(&'a self, dense_bias: Option<&'a [f32]>) -> AddNorm<'a> {
        AddNorm {
            bias: dense_bias,
            weight: &self.weight,
            ln_bias: &self.bias,
            eps: self.eps,
        }
    }
}

/// `embeddings.*`: the sum of three lookups, normalised.
#[derive(Debug, Clone)]
pub struct BertEmbeddings {
    word_embeddings: Embedding,
    position_embeddings: Embedding,
    token_type_embeddings: Embedding,
    /// checkpoint key `LayerNorm`
    layer_norm: Norm,
}

impl BertEmbeddings {
    pub fn new(cfg: &BertConfig, vb: VarBuilder) -> Result<Self, ModelError> {
        let h = cfg.hidden_size;
        Ok(Self {
            word_embeddings: candle_nn::embedding(cfg.vocab_size, h, vb.pp("word_embeddings"))?,
            position_embeddings: candle_nn::embedding(
                cfg.max_position_embeddings,
                h,
                vb.pp("position_embeddings"),
            )?,
            token_type_embeddings: candle_nn::embedding(
                cfg.type_vocab_size,
                h,
                vb.pp("token_type_embeddings"),
            )?,
            layer_norm: Norm::new(h, cfg.layer_norm_eps, vb.pp("LayerNorm"))?,
        })
    }

    pub fn forward(&self, batch: &PackedBatch) -> Result<Tensor, ModelError> {
        // transformers sums word + token type, then position; the order is kept so the f32
        // rounding matches.
        let w = self.word_embeddings.forward(&batch.input_ids)?;
        let t = self.token_type_embeddings.forward(&batch.token_type_ids)?;
        let p = self.position_embeddings.forward(&batch.position_ids)?;
        Ok(w.apply_op3_no_bwd(&t, &p, &self.layer_norm.op(None))?)
    }
}

/// One encoder layer (`encoder.layer.N.*`).
#[derive(Debug, Clone)]
pub struct BertLayer {
    /// `attention.self.{query,key,value}` concatenated along the output dimension at load: one
    /// `(3·hidden × hidden)` product runs faster than three small ones, and attention reads q, k
    /// and v from its row in place.
    qkv: Dense,
    /// `attention.output.dense`
    attention_output: Dense,
    /// `attention.output.LayerNorm`
    attention_norm: Norm,
    /// `intermediate.dense`
    intermediate: Dense,
    /// `output.dense`
    output: Dense,
    /// `output.LayerNorm`
    output_norm: Norm,
    heads: usize,
    head_dim: usize,
}

impl BertLayer {
    pub fn new(cfg: &BertConfig, vb: VarBuilder) -> Result<Self, ModelError> {
        let h = cfg.hidden_size;
        let eps = cfg.layer_norm_eps;
        let sa = vb.pp("attention").pp("self");
        let qkv = Dense::concat(&[
            Dense::new(h, h, sa.pp("query"))?,
            Dense::new(h, h, sa.pp("key"))?,
            Dense::new(h, h, sa.pp("value"))?,
        ]);
        let ao = vb.pp("attention").pp("output");
        Ok(Self {
            qkv,
            attention_output: Dense::new(h, h, ao.pp("dense"))?,
            attention_norm: Norm::new(h, eps, ao.pp("LayerNorm"))?,
            intermediate: Dense::new(h, cfg.intermediate_size, vb.pp("intermediate").pp("dense"))?,
            output: Dense::new(cfg.intermediate_size, h, vb.pp("output").pp("dense"))?,
            output_norm: Norm::new(h, eps, vb.pp("output").pp("LayerNorm"))?,
            heads: cfg.num_attention_heads,
            head_dim: cfg.head_dim(),
        })
    }

    /// `x`: packed hidden states `(tokens, hidden)`.
    pub fn forward(&self, x: &Tensor, batch: &PackedBatch) -> Result<Tensor, ModelError> {
        let ctx = self.qkv.matmul(x)?.apply_op1_no_bwd(&PackedAttention {
            seqs: &batch.seqs,
            bias: &self.qkv.bias,
            heads: self.heads,
            head_dim: self.head_dim,
        })?;
        let a = self.attention_output.matmul(&ctx)?.apply_op2_no_bwd(
            x,
            &self.attention_norm.op(Some(&self.attention_output.bias)),
        )?;
        let inter = self.intermediate.matmul(&a)?.apply_op1_no_bwd(&BiasGelu {
            bias: &self.intermediate.bias,
        })?;
        Ok(self
            .output
            .matmul(&inter)?
            .apply_op2_no_bwd(&a, &self.output_norm.op(Some(&self.output.bias)))?)
    }
}

/// The BERT encoder without a task head: returns the last hidden states.
#[derive(Debug, Clone)]
pub struct BertModel {
    embeddings: BertEmbeddings,
    /// `encoder.layer.N`
    layers: Vec<BertLayer>,
    cfg: BertConfig,
}

impl BertModel {
    /// Build from weights named as in transformers' `BertModel` (`embeddings.*`,
    /// `encoder.layer.N.*`); `vb` is already positioned under any `bert.` prefix. Tensors are
    /// checked by name and shape as they are read: the first missing one is a
    /// [`ModelError::MissingTensor`], a wrong shape a [`ModelError::TensorShape`].
    pub fn new(cfg: &BertConfig, vb: VarBuilder) -> Result<Self, ModelError> {
        let embeddings = BertEmbeddings::new(cfg, vb.pp("embeddings"))?;
        let enc = vb.pp("encoder").pp("layer");
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| BertLayer::new(cfg, enc.pp(i)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            embeddings,
            layers,
            cfg: cfg.clone(),
        })
    }

    pub fn config(&self) -> &BertConfig {
        &self.cfg
    }

    /// Last hidden states `(tokens, hidden)` of a packed batch, row for row with its tokens.
    pub fn forward(&self, batch: &PackedBatch) -> Result<Tensor, ModelError> {
        self.check(batch)?;
        let mut x = self.embeddings.forward(batch)?;
        for layer in &self.layers {
            x = layer.forward(&x, batch)?;
        }
        Ok(x)
    }

    /// Ids outside the tables would be an index error deep in candle; name them here instead.
    fn check(&self, batch: &PackedBatch) -> Result<(), ModelError> {
        if let Some(&(_, len)) = batch
            .seqs
            .iter()
            .find(|s| s.1 > self.cfg.max_position_embeddings)
        {
            return Err(ModelError::ContextOverflow {
                tokens: len,
                context: self.cfg.max_position_embeddings,
            });
        }
        for (t, table) in [
            (&batch.input_ids, self.cfg.vocab_size),
            (&batch.token_type_ids, self.cfg.type_vocab_size),
        ] {
            let max = t.max(0)?.to_scalar::<u32>()?;
            if max as usize >= table {
                return Err(ModelError::TokenOutOfRange {
                    id: max,
                    vocab: table,
                });
            }
        }
        Ok(())
    }
}

/// The dtype Muse computes BERT in on the CPU.
pub const COMPUTE_DTYPE: DType = DType::F32;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn config_rejects_unsupported_architecture_naming_supported_ones() {
        let json = r#"{"architectures": ["GPT2LMHeadModel"], "vocab_size": 10, "hidden_size": 4,
            "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 8,
            "max_position_embeddings": 16}"#;
        let f: BertConfigFile = serde_json::from_str(json).unwrap();
        let e = f.into_config().unwrap_err().to_string();
        assert!(
            e.contains("GPT2LMHeadModel") && e.contains("BertModel"),
            "{e}"
        );
    }
}
