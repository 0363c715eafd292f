//! The CLIP text encoder (Radford et al. 2021) as transformers' `CLIPTextModel`
//! (transformers 5.24, models/clip/modeling_clip.py) and its BPE tokenizer, for Stable
//! Diffusion's prompt conditioning: the `last_hidden_state` of the prompt padded to 77 tokens.

use std::path::Path;

use candle_core::{D, DType, Device, Result as CResult, Tensor};
use candle_nn::{Embedding, Linear, Module, VarBuilder};
use serde::Deserialize;
use tokenizers::Tokenizer;

use crate::error::{DiffusionError, Result, read_json};
use crate::loading::WEIGHT_FILES;
use crate::nn::{LayerNorm, linear};
use crate::pipeline::TextConditioner;

fn d_act() -> String {
    "quick_gelu".into()
}
fn d_eps() -> f64 {
    1e-5
}
fn d_pos() -> usize {
    77
}

/// `text_encoder/config.json` (transformers `CLIPTextConfig`).
#[derive(Debug, Clone, Deserialize)]
pub struct ClipTextConfig {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Width.
    pub hidden_size: usize,
    /// MLP width.
    pub intermediate_size: usize,
    /// Layers.
    pub num_hidden_layers: usize,
    /// Heads.
    pub num_attention_heads: usize,
    /// Context length.
    #[serde(default = "d_pos")]
    pub max_position_embeddings: usize,
    /// `quick_gelu` (SD 1.x) or `gelu` (SD 2.x).
    #[serde(default = "d_act")]
    pub hidden_act: String,
    /// LayerNorm epsilon.
    #[serde(default = "d_eps")]
    pub layer_norm_eps: f64,
}

#[derive(Debug, Clone)]
struct ClipLayer {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    out_proj: Linear,
    layer_norm1: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    layer_norm2: LayerNorm,
}

/// `CLIPTextModel` (weights under `text_model.`, or at the root as transformers 5 saves them).
#[derive(Debug, Clone)]
pub struct ClipTextModel {
    token_embedding: Embedding,
    position_embedding: Tensor,
    layers: Vec<ClipLayer>,
    final_layer_norm: LayerNorm,
    heads: usize,
    quick_gelu: bool,
}

impl ClipTextModel {
    /// Builds the encoder from `vb` (the checkpoint root).
    pub fn new(cfg: &ClipTextConfig, vb: VarBuilder) -> Result<Self> {
        let quick_gelu = match cfg.hidden_act.as_str() {
            "quick_gelu" => true,
            "gelu" => false,
            other => {
                return Err(DiffusionError::Unsupported {
                    what: "CLIP hidden_act",
                    found: other.into(),
                    supported: vec!["quick_gelu", "gelu"],
                });
            }
        };
        let (d, eps) = (cfg.hidden_size, cfg.layer_norm_eps);
        // transformers 4 checkpoints (all published SD folders) prefix `text_model.`;
        // transformers 5 saves without it.
        let t = if vb.contains_tensor("text_model.embeddings.token_embedding.weight") {
            vb.pp("text_model")
        } else {
            vb
        };
        let e = t.pp("embeddings");
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| {
                let l = t.pp("encoder.layers").pp(i);
                let a = l.pp("self_attn");
                Ok(ClipLayer {
                    q_proj: linear(d, d, true, a.pp("q_proj"))?,
                    k_proj: linear(d, d, true, a.pp("k_proj"))?,
                    v_proj: linear(d, d, true, a.pp("v_proj"))?,
                    out_proj: linear(d, d, true, a.pp("out_proj"))?,
                    layer_norm1: LayerNorm::new(d, eps, l.pp("layer_norm1"))?,
                    fc1: linear(d, cfg.intermediate_size, true, l.pp("mlp.fc1"))?,
                    fc2: linear(cfg.intermediate_size, d, true, l.pp("mlp.fc2"))?,
                    layer_norm2: LayerNorm::new(d, eps, l.pp("layer_norm2"))?,
                })
            })
            .collect::<CResult<Vec<_>>>()?;
        Ok(Self {
            token_embedding: candle_nn::embedding(cfg.vocab_size, d, e.pp("token_embedding"))?,
            position_embedding: e
                .pp("position_embedding")
                .get((cfg.max_position_embeddings, d), "weight")?,
            layers,
            final_layer_norm: LayerNorm::new(d, eps, t.pp("final_layer_norm"))?,
            heads: cfg.num_attention_heads,
            quick_gelu,
        })
    }

    /// `input_ids` [B, S] (u32) -> `last_hidden_state` [B, S, D].
    pub fn forward(&self, input_ids: &Tensor) -> CResult<Tensor> {
        let (b, s) = input_ids.dims2()?;
        let mut x = self
            .token_embedding
            .forward(input_ids)?
            .broadcast_add(&self.position_embedding.narrow(0, 0, s)?)?;
        let d = x.dim(2)?;
        let hd = d / self.heads;
        // Causal mask: -inf above the diagonal.
        let mask: Vec<f32> = (0..s)
            .flat_map(|i| (0..s).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
            .collect();
        let mask = Tensor::from_vec(mask, (s, s), x.device())?;
        let split = |t: Tensor| -> CResult<Tensor> {
            t.reshape((b, s, self.heads, hd))?
                .transpose(1, 2)?
                .contiguous()
        };
        for l in &self.layers {
            let h = l.layer_norm1.forward(&x)?;
            let q = split((l.q_proj.forward(&h)? * (hd as f64).powf(-0.5))?)?;
            let k = split(l.k_proj.forward(&h)?)?;
            let v = split(l.v_proj.forward(&h)?)?;
            let att = q.matmul(&k.t()?)?.broadcast_add(&mask)?;
            let att = candle_nn::ops::softmax(&att, D::Minus1)?.matmul(&v)?;
            let att = att.transpose(1, 2)?.reshape((b, s, d))?;
            x = (x + l.out_proj.forward(&att)?)?;
            let h = l.fc1.forward(&l.layer_norm2.forward(&x)?)?;
            let h = if self.quick_gelu {
                (&h * candle_nn::ops::sigmoid(&(&h * 1.702)?)?)?
            } else {
                h.gelu_erf()?
            };
            x = (x + l.fc2.forward(&h)?)?;
        }
        self.final_layer_norm.forward(&x)
    }
}

#[derive(Debug, Deserialize, Default)]
struct TokenizerConfig {
    #[serde(default)]
    model_max_length: Option<f64>,
    #[serde(default)]
    pad_token: Option<serde_json::Value>,
}

/// CLIP's byte-level BPE with `</w>` word ends, lower-casing and CLIP's word regex (as
/// transformers' `CLIPConverter` builds `tokenizer.json` from `vocab.json` + `merges.txt`).
fn clip_tokenizer_from_vocab(vocab: &Path, merges: &Path) -> Result<Tokenizer> {
    use tokenizers::models::bpe::BPE;
    use tokenizers::normalizers::{Lowercase, NFC, Replace, Sequence as NSeq};
    use tokenizers::pre_tokenizers::byte_level::ByteLevel;
    use tokenizers::pre_tokenizers::sequence::Sequence as PSeq;
    use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
    use tokenizers::{NormalizerWrapper, PreTokenizerWrapper, SplitDelimiterBehavior};
    let tk = |e: tokenizers::Error| DiffusionError::config(format!("CLIP tokenizer: {e}"));
    let v = vocab.to_string_lossy().into_owned();
    let m = merges.to_string_lossy().into_owned();
    let bpe = BPE::from_file(&v, &m)
        .end_of_word_suffix("</w>".into())
        .unk_token("<|endoftext|>".into())
        .build()
        .map_err(tk)?;
    let mut tok = Tokenizer::new(bpe);
    let norm = NSeq::new(vec![
        NormalizerWrapper::NFC(NFC),
        NormalizerWrapper::Replace(
            Replace::new(
                tokenizers::normalizers::replace::ReplacePattern::Regex(r"\s+".into()),
                " ",
            )
            .map_err(tk)?,
        ),
        NormalizerWrapper::Lowercase(Lowercase),
    ]);
    tok.with_normalizer(Some(norm)).map_err(tk)?;
    let re = r"'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+";
    let pre = PSeq::new(vec![
        PreTokenizerWrapper::Split(
            Split::new(
                SplitPattern::Regex(re.into()),
                SplitDelimiterBehavior::Removed,
                true,
            )
            .map_err(tk)?,
        ),
        PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, true, false)),
    ]);
    tok.with_pre_tokenizer(Some(pre));
    Ok(tok)
}

/// CLIP tokenizer + text encoder: a [`TextConditioner`] giving [B, 77, D].
pub struct ClipConditioner {
    tokenizer: Tokenizer,
    model: ClipTextModel,
    max_len: usize,
    bos: u32,
    eos: u32,
    pad: u32,
    device: Device,
}

impl ClipConditioner {
    /// Loads `tokenizer/` (`tokenizer.json`, or `vocab.json` + `merges.txt`) and `text_encoder/`
    /// (`config.json` + `model.safetensors`) from a pipeline folder.
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let tdir = dir.join("tokenizer");
        let tokenizer = if tdir.join("tokenizer.json").exists() {
            Tokenizer::from_file(tdir.join("tokenizer.json"))
                .map_err(|e| DiffusionError::config(format!("tokenizer.json: {e}")))?
        } else if tdir.join("vocab.json").exists() && tdir.join("merges.txt").exists() {
            clip_tokenizer_from_vocab(&tdir.join("vocab.json"), &tdir.join("merges.txt"))?
        } else {
            return Err(DiffusionError::Missing {
                what: "tokenizer (tokenizer.json or vocab.json + merges.txt)".into(),
                path: tdir,
            });
        };
        let tcfg: TokenizerConfig = if tdir.join("tokenizer_config.json").exists() {
            read_json(&tdir.join("tokenizer_config.json"))?
        } else {
            TokenizerConfig::default()
        };
        let id = |t: &str| {
            tokenizer
                .token_to_id(t)
                .ok_or_else(|| DiffusionError::config(format!("tokenizer has no token {t:?}")))
        };
        let bos = id("<|startoftext|>")?;
        let eos = id("<|endoftext|>")?;
        let pad = match &tcfg.pad_token {
            Some(serde_json::Value::String(s)) => id(s)?,
            Some(serde_json::Value::Object(o)) => match o.get("content").and_then(|c| c.as_str()) {
                Some(s) => id(s)?,
                None => eos,
            },
            _ => eos,
        };
        let edir = dir.join("text_encoder");
        let cfg: ClipTextConfig = read_json(&edir.join("config.json"))?;
        let weights = ["model.safetensors", WEIGHT_FILES[0]]
            .iter()
            .map(|f| edir.join(f))
            .find(|p| p.exists())
            .ok_or_else(|| DiffusionError::Missing {
                what: "text encoder weights".into(),
                path: edir.join("model.safetensors"),
            })?;
        // SAFETY: read-only mapping of a file we do not modify (candle's contract).
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[weights], DType::F32, device)? };
        let max_len = tcfg
            .model_max_length
            .filter(|&m| m >= 2.0 && m <= cfg.max_position_embeddings as f64)
            .map_or(cfg.max_position_embeddings, |m| m as usize);
        Ok(Self {
            model: ClipTextModel::new(&cfg, vb)?,
            tokenizer,
            max_len,
            bos,
            eos,
            pad,
            device: device.clone(),
        })
    }

    /// Token ids as the SD pipeline feeds them: BOS, up to `max_len - 2` tokens, EOS, padding.
    pub fn token_ids(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .tokenizer
            .encode(text, false)
            .map_err(|e| DiffusionError::input(format!("tokenizing {text:?}: {e}")))?;
        let mut ids = vec![self.bos];
        ids.extend(enc.get_ids().iter().take(self.max_len - 2));
        ids.push(self.eos);
        ids.resize(self.max_len, self.pad);
        Ok(ids)
    }
}

impl TextConditioner for ClipConditioner {
    fn encode(&self, texts: &[String]) -> Result<Tensor> {
        let mut all = Vec::with_capacity(texts.len() * self.max_len);
        for t in texts {
            all.extend(self.token_ids(t)?);
        }
        let ids = Tensor::from_vec(all, (texts.len(), self.max_len), &self.device)?;
        Ok(self.model.forward(&ids)?)
    }
}
