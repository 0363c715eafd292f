//! GPT-2 (Radford et al. 2019, "Language Models are Unsupervised Multitask Learners"), as laid
//! out by Hugging Face transformers' `GPT2LMHeadModel` (`models/gpt2/modeling_gpt2.py`): token
//! (`wte`) + learned position (`wpe`) embeddings, then N pre-norm blocks, each
//!
//! ```text
//! a = x + c_proj · CausalSelfAttention(split_qkv(c_attn · LayerNorm_1(x)))
//! y = a + c_proj · GELU_tanh(c_fc · LayerNorm_2(a))
//! ```
//!
//! then `ln_f` and the LM head, tied to `wte` when the checkpoint has no `lm_head.weight`.
//!
//! Weights come from a Hugging Face folder (`config.json` + `model.safetensors`, or shards),
//! memory-mapped through [`crate::safetensors_dir`]; keys are accepted with or without the
//! `transformer.` prefix. HF's `Conv1D` stores its weight as `[in, out]` — already the row-major
//! `k × n` matrix that `x · W` needs — so it is packed for [`crate::bert_ops`]'s small-matrix
//! product as is. Everything is computed in f32 on the CPU: F16/BF16 checkpoints are converted to
//! f32 when they are loaded (so they take twice their file size in memory for now).
//!
//! Decoding is incremental: [`Gpt2::forward`] takes the new tokens and a [`Gpt2Cache`] holding
//! every earlier position's keys and values, and returns one row of logits per new token.

use crate::ModelError;
use crate::bert_ops::{erf_as, pack_panels, small_matmul};
use crate::safetensors_dir::SafetensorsDir;
use crate::step_check::check_batch_step;
use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use std::path::Path;

/// `architectures` values whose weights are a GPT-2 decoder (optionally under `transformer.`).
pub const SUPPORTED_ARCHITECTURES: &[&str] = &["GPT2LMHeadModel", "GPT2Model"];

/// `config.json` of a Hugging Face GPT-2 checkpoint, field for field.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Gpt2HfConfig {
    #[serde(default)]
    pub architectures: Option<Vec<String>>,
    #[serde(default)]
    pub model_type: Option<String>,
    pub vocab_size: usize,
    pub n_positions: usize,
    pub n_embd: usize,
    pub n_layer: usize,
    pub n_head: usize,
    /// MLP width; `null` or absent means `4 · n_embd`.
    #[serde(default)]
    pub n_inner: Option<usize>,
    #[serde(default = "default_activation")]
    pub activation_function: String,
    #[serde(default = "default_layer_norm_epsilon")]
    pub layer_norm_epsilon: f64,
    #[serde(default = "default_true")]
    pub scale_attn_weights: bool,
    #[serde(default)]
    pub scale_attn_by_inverse_layer_idx: bool,
    #[serde(default)]
    pub add_cross_attention: bool,
}

fn default_activation() -> String {
    "gelu_new".into()
}
fn default_layer_norm_epsilon() -> f64 {
    1e-5
}
fn default_true() -> bool {
    true
}

/// The MLP's activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gpt2Activation {
    /// `gelu_new`: `x/2 · (1 + tanh(√(2/π) · (x + 0.044715 x³)))`.
    GeluTanh,
    /// `gelu`: the exact erf form.
    GeluErf,
}

/// The runtime configuration of a [`Gpt2`].
#[derive(Debug, Clone, PartialEq)]
pub struct Gpt2Config {
    pub vocab_size: usize,
    pub n_positions: usize,
    pub n_embd: usize,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_inner: usize,
    pub activation: Gpt2Activation,
    pub layer_norm_epsilon: f32,
    pub scale_attn_weights: bool,
    pub scale_attn_by_inverse_layer_idx: bool,
}

impl Gpt2Config {
    /// Size of one attention head.
    pub fn head_dim(&self) -> usize {
        self.n_embd / self.n_head
    }
}

impl Gpt2HfConfig {
    /// Read `dir/config.json`.
    pub fn from_dir(dir: &Path) -> Result<Self, ModelError> {
        let (path, value) = crate::safetensors_dir::read_config_json(dir)?;
        serde_json::from_value(value).map_err(|e| ModelError::Corrupt {
            path,
            what: e.to_string(),
        })
    }

    /// Check what this implementation supports and build the runtime config.
    pub fn into_config(self) -> Result<Gpt2Config, ModelError> {
        crate::safetensors_dir::check_hf_identity(
            self.architectures.as_deref(),
            self.model_type.as_deref(),
            SUPPORTED_ARCHITECTURES,
            "gpt2",
        )?;
        let activation = match self.activation_function.as_str() {
            "gelu_new" => Gpt2Activation::GeluTanh,
            "gelu" => Gpt2Activation::GeluErf,
            other => {
                return Err(ModelError::Config(format!(
                    "`activation_function` is `{other}`; supported: gelu_new, gelu"
                )));
            }
        };
        if self.add_cross_attention {
            return Err(ModelError::Config(
                "`add_cross_attention` is true; cross-attention is not supported".into(),
            ));
        }
        let n_inner = self.n_inner.unwrap_or(4 * self.n_embd);
        for (name, v) in [
            ("vocab_size", self.vocab_size),
            ("n_positions", self.n_positions),
            ("n_embd", self.n_embd),
            ("n_head", self.n_head),
            ("n_inner", n_inner),
        ] {
            if v == 0 {
                return Err(ModelError::Config(format!("`{name}` must be > 0")));
            }
        }
        if !self.n_embd.is_multiple_of(self.n_head) {
            return Err(ModelError::Config(format!(
                "`n_embd` {} is not a multiple of `n_head` {}",
                self.n_embd, self.n_head
            )));
        }
        Ok(Gpt2Config {
            vocab_size: self.vocab_size,
            n_positions: self.n_positions,
            n_embd: self.n_embd,
            n_layer: self.n_layer,
            n_head: self.n_head,
            n_inner,
            activation,
            layer_norm_epsilon: self.layer_norm_epsilon as f32,
            scale_attn_weights: self.scale_attn_weights,
            scale_attn_by_inverse_layer_idx: self.scale_attn_by_inverse_layer_idx,
        })
    }
}

/// Read one tensor as f32, checking its name and shape.
fn get(vb: &VarBuilder, shape: &[usize], name: &str) -> Result<Vec<f32>, ModelError> {
    let t = vb.get(shape, name)?;
    Ok(t.flatten_all()?.to_vec1::<f32>()?)
}

/// `LayerNorm` parameters (`weight`, `bias`).
struct LayerNorm {
    weight: Vec<f32>,
    bias: Vec<f32>,
    eps: f32,
}

impl LayerNorm {
    fn new(cfg: &Gpt2Config, vb: VarBuilder) -> Result<Self, ModelError> {
        Ok(Self {
            weight: get(&vb, &[cfg.n_embd], "weight")?,
            bias: get(&vb, &[cfg.n_embd], "bias")?,
            eps: cfg.layer_norm_epsilon,
        })
    }

    /// Normalise each row of `x` (rows of `weight.len()`) into a new buffer.
    fn forward(&self, x: &[f32]) -> Vec<f32> {
        let c = self.weight.len();
        let mut out = vec![0f32; x.len()];
        for (row, dst) in x.chunks_exact(c).zip(out.chunks_exact_mut(c)) {
            let mean = row.iter().sum::<f32>() / c as f32;
            let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / c as f32;
            let inv = 1.0 / (var + self.eps).sqrt();
            for (((d, v), w), b) in dst.iter_mut().zip(row).zip(&self.weight).zip(&self.bias) {
                *d = (v - mean) * inv * w + b;
            }
        }
        out
    }
}

/// HF `Conv1D`: `y = x · W + b` with `W` stored `[in, out]`, kept packed in column panels.
struct Conv1D {
    panels: Vec<f32>,
    bias: Vec<f32>,
    n_in: usize,
    n_out: usize,
}

impl Conv1D {
    fn new(n_in: usize, n_out: usize, vb: VarBuilder) -> Result<Self, ModelError> {
        let w = get(&vb, &[n_in, n_out], "weight")?;
        Ok(Self {
            panels: pack_panels(&w, n_in, n_out),
            bias: get(&vb, &[n_out], "bias")?,
            n_in,
            n_out,
        })
    }

    fn forward(&self, x: &[f32]) -> Vec<f32> {
        let m = x.len() / self.n_in;
        let mut y = small_matmul(x, m, self.n_in, &self.panels, self.n_out);
        for row in y.chunks_exact_mut(self.n_out) {
            for (v, b) in row.iter_mut().zip(&self.bias) {
                *v += b;
            }
        }
        y
    }
}

/// `h.N.attn`
struct Attention {
    c_attn: Conv1D,
    c_proj: Conv1D,
}

/// `h.N.mlp`
struct Mlp {
    c_fc: Conv1D,
    c_proj: Conv1D,
}

/// `h.N`
struct Block {
    ln_1: LayerNorm,
    attn: Attention,
    ln_2: LayerNorm,
    mlp: Mlp,
}

impl Block {
    fn new(cfg: &Gpt2Config, vb: VarBuilder) -> Result<Self, ModelError> {
        let c = cfg.n_embd;
        let attn = vb.pp("attn");
        let mlp = vb.pp("mlp");
        Ok(Self {
            ln_1: LayerNorm::new(cfg, vb.pp("ln_1"))?,
            attn: Attention {
                c_attn: Conv1D::new(c, 3 * c, attn.pp("c_attn"))?,
                c_proj: Conv1D::new(c, c, attn.pp("c_proj"))?,
            },
            ln_2: LayerNorm::new(cfg, vb.pp("ln_2"))?,
            mlp: Mlp {
                c_fc: Conv1D::new(c, cfg.n_inner, mlp.pp("c_fc"))?,
                c_proj: Conv1D::new(cfg.n_inner, c, mlp.pp("c_proj"))?,
            },
        })
    }
}

/// Keys and values of every position seen so far, per layer, as rows of `n_embd` (heads side by
/// side, as `c_attn` produces them).
#[derive(Debug, Clone)]
pub struct Gpt2Cache {
    keys: Vec<Vec<f32>>,
    values: Vec<Vec<f32>>,
    len: usize,
}

impl Gpt2Cache {
    /// An empty cache for a model of this configuration.
    pub fn new(cfg: &Gpt2Config) -> Self {
        Self {
            keys: vec![Vec::new(); cfg.n_layer],
            values: vec![Vec::new(); cfg.n_layer],
            len: 0,
        }
    }

    /// Positions held.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forget everything (keeps the allocations).
    pub fn clear(&mut self) {
        self.keys.iter_mut().for_each(Vec::clear);
        self.values.iter_mut().for_each(Vec::clear);
        self.len = 0;
    }
}

/// A GPT-2 language model.
pub struct Gpt2 {
    /// `wte`, `(vocab, n_embd)` row-major.
    wte: Vec<f32>,
    /// `wpe`, `(n_positions, n_embd)` row-major.
    wpe: Vec<f32>,
    h: Vec<Block>,
    ln_f: LayerNorm,
    /// The LM head transposed to `(n_embd, vocab)` and packed.
    lm_head: Vec<f32>,
    cfg: Gpt2Config,
}

impl Gpt2 {
    /// Load `dir/config.json` and `dir/model.safetensors` (or shards).
    pub fn from_dir(dir: &Path) -> Result<Self, ModelError> {
        let cfg = Gpt2HfConfig::from_dir(dir)?.into_config()?;
        let st = SafetensorsDir::open(dir)?;
        let prefixed = st.names().any(|n| n.starts_with("transformer."));
        let has_lm_head = st.contains("lm_head.weight");
        let vb = st.into_var_builder(DType::F32, &Device::Cpu);
        let lm_head = if has_lm_head {
            Some(get(&vb, &[cfg.vocab_size, cfg.n_embd], "lm_head.weight")?)
        } else {
            None
        };
        let body = if prefixed { vb.pp("transformer") } else { vb };
        Self::new(&cfg, body, lm_head)
    }

    /// Build from weights named as in transformers' `GPT2Model` (`wte`, `wpe`, `h.N.*`, `ln_f`),
    /// `vb` already positioned under any `transformer.` prefix. `lm_head` is the untied head
    /// `(vocab, n_embd)` if the checkpoint has one; otherwise the head is `wte`.
    pub fn new(
        cfg: &Gpt2Config,
        vb: VarBuilder,
        lm_head: Option<Vec<f32>>,
    ) -> Result<Self, ModelError> {
        let (v, c) = (cfg.vocab_size, cfg.n_embd);
        let wte = get(&vb.pp("wte"), &[v, c], "weight")?;
        let wpe = get(&vb.pp("wpe"), &[cfg.n_positions, c], "weight")?;
        let h = (0..cfg.n_layer)
            .map(|i| Block::new(cfg, vb.pp("h").pp(i)))
            .collect::<Result<Vec<_>, _>>()?;
        let ln_f = LayerNorm::new(cfg, vb.pp("ln_f"))?;
        let head = lm_head.as_deref().unwrap_or(&wte);
        let mut head_t = vec![0f32; v * c];
        for (r, row) in head.chunks_exact(c).enumerate() {
            for (k, x) in row.iter().enumerate() {
                head_t[k * v + r] = *x;
            }
        }
        Ok(Self {
            lm_head: pack_panels(&head_t, c, v),
            wte,
            wpe,
            h,
            ln_f,
            cfg: cfg.clone(),
        })
    }

    pub fn config(&self) -> &Gpt2Config {
        &self.cfg
    }

    /// An empty cache for this model.
    pub fn new_cache(&self) -> Gpt2Cache {
        Gpt2Cache::new(&self.cfg)
    }

    /// Logits `(tokens.len(), vocab)` row-major, one row per new token, continuing after the
    /// positions `cache` holds; the new tokens' keys and values are appended to it. On an error
    /// the cache is left unchanged.
    pub fn forward(&self, tokens: &[u32], cache: &mut Gpt2Cache) -> Result<Vec<f32>, ModelError> {
        let cfg = &self.cfg;
        if let Some(&id) = tokens.iter().find(|&&t| t as usize >= cfg.vocab_size) {
            return Err(ModelError::TokenOutOfRange {
                id,
                vocab: cfg.vocab_size,
            });
        }
        let past = cache.len;
        let total = past + tokens.len();
        if total > cfg.n_positions {
            return Err(ModelError::ContextOverflow {
                tokens: total,
                context: cfg.n_positions,
            });
        }
        if cache.keys.len() != cfg.n_layer || cache.values.len() != cfg.n_layer {
            return Err(ModelError::Config(format!(
                "cache has {} layers, the model {}",
                cache.keys.len(),
                cfg.n_layer
            )));
        }
        if tokens.is_empty() {
            return Ok(Vec::new());
        }
        let c = cfg.n_embd;
        let mut x = vec![0f32; tokens.len() * c];
        for (i, (&t, row)) in tokens.iter().zip(x.chunks_exact_mut(c)).enumerate() {
            let te = &self.wte[t as usize * c..][..c];
            let pe = &self.wpe[(past + i) * c..][..c];
            for ((d, a), b) in row.iter_mut().zip(te).zip(pe) {
                *d = a + b;
            }
        }
        self.run_blocks(&mut x, |l, qkv| {
            let keys = &mut cache.keys[l];
            let values = &mut cache.values[l];
            for row in qkv.chunks_exact(3 * c) {
                keys.extend_from_slice(&row[c..2 * c]);
                values.extend_from_slice(&row[2 * c..]);
            }
            self.attend(l, qkv, past, keys, values)
        });
        cache.len = total;
        let x = self.ln_f.forward(&x);
        Ok(small_matmul(
            &x,
            tokens.len(),
            c,
            &self.lm_head,
            cfg.vocab_size,
        ))
    }

    /// One decode step for several sequences at once: `tokens[i]` continues `caches[i]`. The
    /// projections and the MLP run on all rows together; attention runs per sequence against
    /// its own cache. Returns `(tokens.len(), vocab)` logits. On an error no cache changes.
    pub fn forward_batch(
        &self,
        tokens: &[u32],
        caches: &mut [&mut Gpt2Cache],
    ) -> Result<Vec<f32>, ModelError> {
        let cfg = &self.cfg;
        let lens: Vec<usize> = caches.iter().map(|c| c.len).collect();
        check_batch_step(tokens, &lens, cfg.vocab_size, cfg.n_positions)?;
        for cache in caches.iter() {
            if cache.keys.len() != cfg.n_layer || cache.values.len() != cfg.n_layer {
                return Err(ModelError::Config(format!(
                    "cache has {} layers, the model {}",
                    cache.keys.len(),
                    cfg.n_layer
                )));
            }
        }
        let c = cfg.n_embd;
        let mut x = vec![0f32; tokens.len() * c];
        for ((&t, row), cache) in tokens.iter().zip(x.chunks_exact_mut(c)).zip(caches.iter()) {
            let te = &self.wte[t as usize * c..][..c];
            let pe = &self.wpe[cache.len * c..][..c];
            for ((d, a), b) in row.iter_mut().zip(te).zip(pe) {
                *d = a + b;
            }
        }
        self.run_blocks(&mut x, |l, qkv| {
            let mut att = Vec::with_capacity(tokens.len() * c);
            for (row, cache) in qkv.chunks_exact(3 * c).zip(caches.iter_mut()) {
                cache.keys[l].extend_from_slice(&row[c..2 * c]);
                cache.values[l].extend_from_slice(&row[2 * c..]);
                att.extend(self.attend(l, row, cache.len, &cache.keys[l], &cache.values[l]));
            }
            att
        });
        for cache in caches.iter_mut() {
            cache.len += 1;
        }
        let x = self.ln_f.forward(&x);
        Ok(small_matmul(
            &x,
            tokens.len(),
            c,
            &self.lm_head,
            cfg.vocab_size,
        ))
    }

    /// Every block over the rows of `x`: `attend(layer, qkv)` stores the new keys and values where
    /// they belong and returns the attention output for the rows of `qkv`.
    fn run_blocks(&self, x: &mut [f32], mut attend: impl FnMut(usize, &[f32]) -> Vec<f32>) {
        for (l, block) in self.h.iter().enumerate() {
            let h = block.ln_1.forward(x);
            let qkv = block.attn.c_attn.forward(&h);
            let att = attend(l, &qkv);
            let proj = block.attn.c_proj.forward(&att);
            x.iter_mut().zip(&proj).for_each(|(a, b)| *a += b);
            let h = block.ln_2.forward(x);
            let mut f = block.mlp.c_fc.forward(&h);
            match self.cfg.activation {
                Gpt2Activation::GeluTanh => f.iter_mut().for_each(|v| *v = gelu_tanh(*v)),
                Gpt2Activation::GeluErf => f.iter_mut().for_each(|v| {
                    *v = 0.5 * *v * (1.0 + erf_as(*v * std::f32::consts::FRAC_1_SQRT_2));
                }),
            }
            let proj = block.mlp.c_proj.forward(&f);
            x.iter_mut().zip(&proj).for_each(|(a, b)| *a += b);
        }
    }

    /// Causal attention of the new queries (rows of `qkv`, positions `past..`) over every cached
    /// key and value (the new ones included). Returns `(new tokens, n_embd)`.
    fn attend(
        &self,
        layer: usize,
        qkv: &[f32],
        past: usize,
        keys: &[f32],
        vals: &[f32],
    ) -> Vec<f32> {
        let cfg = &self.cfg;
        let (c, d) = (cfg.n_embd, cfg.head_dim());
        let mut scale = if cfg.scale_attn_weights {
            1.0 / (d as f32).sqrt()
        } else {
            1.0
        };
        if cfg.scale_attn_by_inverse_layer_idx {
            scale /= (layer + 1) as f32;
        }
        let n = qkv.len() / (3 * c);
        let mut out = vec![0f32; n * c];
        let mut scores = Vec::with_capacity(past + n);
        for (i, (row, dst)) in qkv
            .chunks_exact(3 * c)
            .zip(out.chunks_exact_mut(c))
            .enumerate()
        {
            let seen = past + i + 1;
            for hd in 0..cfg.n_head {
                let q = &row[hd * d..][..d];
                scores.clear();
                scores.extend(keys.chunks_exact(c).take(seen).map(|k| {
                    q.iter()
                        .zip(&k[hd * d..][..d])
                        .map(|(a, b)| a * b)
                        .sum::<f32>()
                        * scale
                }));
                let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut sum = 0f32;
                for s in &mut scores {
                    *s = (*s - max).exp();
                    sum += *s;
                }
                let o = &mut dst[hd * d..][..d];
                for (s, v) in scores.iter().zip(vals.chunks_exact(c)) {
                    let w = s / sum;
                    for (a, b) in o.iter_mut().zip(&v[hd * d..][..d]) {
                        *a += w * b;
                    }
                }
            }
        }
        out
    }
}

/// transformers' `gelu_new` (`NewGELUActivation`).
fn gelu_tanh(x: f32) -> f32 {
    const C: f32 = 0.797_884_6; // √(2/π)
    0.5 * x * (1.0 + (C * (x + 0.044_715 * x * x * x)).tanh())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn cfg_json(extra: &str) -> String {
        format!(
            r#"{{"vocab_size": 10, "n_positions": 8, "n_embd": 4, "n_layer": 1, "n_head": 2 {extra}}}"#
        )
    }

    #[test]
    fn config_defaults_and_inner_width() {
        let f: Gpt2HfConfig = serde_json::from_str(&cfg_json(r#", "n_inner": null"#)).unwrap();
        let c = f.into_config().unwrap();
        assert_eq!(c.n_inner, 16);
        assert_eq!(c.activation, Gpt2Activation::GeluTanh);
        assert_eq!(c.head_dim(), 2);
    }

    #[test]
    fn config_rejects_unsupported_architecture_and_activation() {
        let f: Gpt2HfConfig =
            serde_json::from_str(&cfg_json(r#", "architectures": ["BertModel"]"#)).unwrap();
        let e = f.into_config().unwrap_err().to_string();
        assert!(
            e.contains("BertModel") && e.contains("GPT2LMHeadModel"),
            "{e}"
        );
        let f: Gpt2HfConfig =
            serde_json::from_str(&cfg_json(r#", "activation_function": "relu""#)).unwrap();
        let e = f.into_config().unwrap_err().to_string();
        assert!(e.contains("relu") && e.contains("gelu_new"), "{e}");
    }

    #[test]
    fn gelu_tanh_matches_reference_points() {
        // torch.nn.functional.gelu(x, approximate="tanh")
        for (x, y) in [(1.0f32, 0.841_192), (-2.0, -0.045_402_3), (0.5, 0.345_714)] {
            assert!((gelu_tanh(x) - y).abs() < 1e-5, "{x}: {}", gelu_tanh(x));
        }
    }
}
