//! Llama-family checkpoints in the Hugging Face folder format (`LlamaForCausalLM`,
//! `Qwen2ForCausalLM`): `config.json` read into [`LlamaConfig`], and the safetensors weights
//! mapped in place for the same decoder that runs GGUF files.
//!
//! Differences from GGUF that matter: HF keeps Q/K rows in the order of its `rotate_half` RoPE
//! (pairs `(i, i + d/2)`, [`RopeStyle::HalfSplit`]); Qwen2 adds Q/K/V biases; the LM head may be
//! tied to the embeddings; and RoPE scaling is described in `rope_scaling` (transformers 4) or
//! `rope_parameters` (transformers 5), `default`, `linear` or `llama3` (Meta's frequency-dependent
//! scaling, transformers `_compute_llama3_parameters`).

use crate::error::ModelError;
use crate::llama::{Layer, Llama, LlamaConfig, Mat, Parts, RopeStyle, Store, inv_freq};
use crate::raw_safetensors::RawSafetensors;
use std::f64::consts::PI;
use std::path::Path;

/// Architectures (`config.json` `architectures[0]`) loaded here.
pub const HF_ARCHITECTURES: &[&str] = &["LlamaForCausalLM", "Qwen2ForCausalLM"];

/// RoPE parameters, under either of their names.
#[derive(Debug, Default, Clone, serde::Deserialize)]
struct RopeParams {
    #[serde(default, alias = "type")]
    rope_type: Option<String>,
    #[serde(default)]
    factor: Option<f64>,
    #[serde(default)]
    low_freq_factor: Option<f64>,
    #[serde(default)]
    high_freq_factor: Option<f64>,
    #[serde(default)]
    original_max_position_embeddings: Option<f64>,
    #[serde(default)]
    rope_theta: Option<f64>,
}

/// The fields of `config.json` this loader reads (names as in the file).
#[derive(Debug, serde::Deserialize)]
struct HfConfig {
    #[serde(default)]
    architectures: Vec<String>,
    #[serde(default)]
    model_type: Option<String>,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    #[serde(default)]
    num_key_value_heads: Option<usize>,
    #[serde(default)]
    head_dim: Option<usize>,
    vocab_size: usize,
    #[serde(default)]
    max_position_embeddings: Option<usize>,
    #[serde(default)]
    rms_norm_eps: Option<f64>,
    #[serde(default)]
    rope_theta: Option<f64>,
    #[serde(default)]
    rope_scaling: Option<RopeParams>,
    #[serde(default)]
    rope_parameters: Option<RopeParams>,
    #[serde(default)]
    tie_word_embeddings: Option<bool>,
    #[serde(default)]
    attention_bias: Option<bool>,
}

/// What `config.json` names as the architecture (for dispatch before loading).
pub fn hf_architecture(dir: &Path) -> Result<String, ModelError> {
    let v = read_json(dir)?;
    v.get("architectures")
        .and_then(|a| a.as_array())
        .and_then(|a| a.first())
        .and_then(|a| a.as_str())
        .map(str::to_string)
        .ok_or_else(|| {
            ModelError::Config(format!(
                "{}/config.json names no `architectures`",
                dir.display()
            ))
        })
}

fn read_json(dir: &Path) -> Result<serde_json::Value, ModelError> {
    crate::safetensors_dir::read_config_json(dir).map(|(_, v)| v)
}

/// Llama 3's per-frequency divisors: high frequencies keep their value, low frequencies are
/// divided by `factor`, and the band between is interpolated smoothly.
fn llama3_factors(base: f32, rope_dim: usize, p: &RopeParams) -> Result<Vec<f32>, ModelError> {
    let need = |v: Option<f64>, k: &str| {
        v.filter(|x| x.is_finite() && *x > 0.0).ok_or_else(|| {
            ModelError::Config(format!("llama3 RoPE scaling needs a positive `{k}`"))
        })
    };
    let factor = need(p.factor, "factor")?;
    let low = need(p.low_freq_factor, "low_freq_factor")?;
    let high = need(p.high_freq_factor, "high_freq_factor")?;
    let old_ctx = need(
        p.original_max_position_embeddings,
        "original_max_position_embeddings",
    )?;
    if high <= low {
        return Err(ModelError::Config(format!(
            "llama3 RoPE scaling needs high_freq_factor > low_freq_factor, got {high} <= {low}"
        )));
    }
    let (low_wavelen, high_wavelen) = (old_ctx / low, old_ctx / high);
    Ok(inv_freq(base, rope_dim, None)
        .iter()
        .map(|&f| {
            let wavelen = 2.0 * PI / f as f64;
            let scaled = if wavelen < high_wavelen {
                f as f64
            } else if wavelen > low_wavelen {
                f as f64 / factor
            } else {
                let smooth = (old_ctx / wavelen - low) / (high - low);
                (1.0 - smooth) * f as f64 / factor + smooth * f as f64
            };
            (f as f64 / scaled) as f32
        })
        .collect())
}

impl Llama {
    /// Load a Hugging Face `LlamaForCausalLM` or `Qwen2ForCausalLM` folder (config.json and
    /// model.safetensors or its sharded index), F32, F16 or BF16, mapped in place.
    pub fn from_hf_dir(dir: &Path) -> Result<Self, ModelError> {
        let raw = read_json(dir)?;
        let hf: HfConfig = serde_json::from_value(raw)
            .map_err(|e| ModelError::Config(format!("{}/config.json: {e}", dir.display())))?;
        let arch = hf.architectures.first().cloned().unwrap_or_default();
        if !HF_ARCHITECTURES.contains(&arch.as_str()) {
            return Err(ModelError::UnsupportedArchitecture {
                arch: if arch.is_empty() {
                    hf.model_type.clone().unwrap_or_default()
                } else {
                    arch
                },
                supported: HF_ARCHITECTURES.join(", "),
            });
        }
        let qwen2 = arch == "Qwen2ForCausalLM";
        if hf.num_attention_heads == 0 {
            return Err(ModelError::Config(
                "num_attention_heads must be positive".into(),
            ));
        }
        let head_dim = hf
            .head_dim
            .unwrap_or(hf.hidden_size / hf.num_attention_heads);
        let rope = hf
            .rope_parameters
            .clone()
            .or(hf.rope_scaling.clone())
            .unwrap_or_default();
        let rope_base = rope.rope_theta.or(hf.rope_theta).unwrap_or(10_000.0) as f32;
        if !(rope_base.is_finite() && rope_base > 0.0) {
            return Err(ModelError::Config(format!(
                "rope_theta must be positive, got {rope_base}"
            )));
        }
        let kind = rope.rope_type.clone().unwrap_or_else(|| "default".into());
        let mut linear = 1.0f32;
        let mut factors = None;
        match kind.as_str() {
            "default" => {}
            "linear" => {
                let f = rope
                    .factor
                    .filter(|f| f.is_finite() && *f > 0.0)
                    .ok_or_else(|| {
                        ModelError::Config("linear RoPE scaling needs a positive `factor`".into())
                    })?;
                linear = f as f32;
            }
            "llama3" => factors = Some(llama3_factors(rope_base, head_dim, &rope)?),
            other => {
                return Err(ModelError::Config(format!(
                    "RoPE scaling `{other}` is not supported (supported: default, linear, llama3)"
                )));
            }
        }
        let cfg = LlamaConfig {
            n_layer: hf.num_hidden_layers,
            dim: hf.hidden_size,
            n_head: hf.num_attention_heads,
            n_head_kv: hf.num_key_value_heads.unwrap_or(hf.num_attention_heads),
            head_dim,
            ffn_dim: hf.intermediate_size,
            vocab: hf.vocab_size,
            context: hf.max_position_embeddings.unwrap_or(2048),
            rope_base,
            rope_dim: head_dim,
            rope_linear_scale: linear,
            rope_style: RopeStyle::HalfSplit,
            attn_bias: qwen2 || hf.attention_bias.unwrap_or(false),
            rms_eps: hf.rms_norm_eps.unwrap_or(1e-6) as f32,
        };
        cfg.validate()?;
        let st = RawSafetensors::open(dir)?;
        let (d, qd, kvd, f) = (
            cfg.dim,
            cfg.n_head * cfg.head_dim,
            cfg.n_head_kv * cfg.head_dim,
            cfg.ffn_dim,
        );
        let mut layers = Vec::with_capacity(cfg.n_layer);
        for i in 0..cfg.n_layer {
            let p = |s: &str| format!("model.layers.{i}.{s}");
            let bqkv = if cfg.attn_bias {
                Some([
                    vector(&st, &p("self_attn.q_proj.bias"), qd)?,
                    vector(&st, &p("self_attn.k_proj.bias"), kvd)?,
                    vector(&st, &p("self_attn.v_proj.bias"), kvd)?,
                ])
            } else {
                None
            };
            layers.push(Layer {
                attn_norm: vector(&st, &p("input_layernorm.weight"), d)?,
                ffn_norm: vector(&st, &p("post_attention_layernorm.weight"), d)?,
                wq: matrix(&st, &p("self_attn.q_proj.weight"), qd, d)?,
                wk: matrix(&st, &p("self_attn.k_proj.weight"), kvd, d)?,
                wv: matrix(&st, &p("self_attn.v_proj.weight"), kvd, d)?,
                wo: matrix(&st, &p("self_attn.o_proj.weight"), d, qd)?,
                w_gate: matrix(&st, &p("mlp.gate_proj.weight"), f, d)?,
                w_up: matrix(&st, &p("mlp.up_proj.weight"), f, d)?,
                w_down: matrix(&st, &p("mlp.down_proj.weight"), d, f)?,
                bqkv,
            });
        }
        let tok_embd = matrix(&st, "model.embed_tokens.weight", cfg.vocab, d)?;
        let tied = hf.tie_word_embeddings.unwrap_or(false);
        let output = match st.get("lm_head.weight") {
            Some(_) => matrix(&st, "lm_head.weight", cfg.vocab, d)?,
            None if tied => tok_embd.clone(),
            None => return Err(ModelError::MissingTensor("lm_head.weight".into())),
        };
        let output_norm = vector(&st, "model.norm.weight", d)?;
        let inv = inv_freq(cfg.rope_base, cfg.rope_dim, factors.as_deref());
        Ok(Llama::from_parts(Parts {
            store: Store::Safetensors(st),
            cfg,
            layers,
            tok_embd,
            output_norm,
            output,
            inv_freq: inv,
        }))
    }
}

fn matrix(st: &RawSafetensors, name: &str, rows: usize, cols: usize) -> Result<Mat, ModelError> {
    let t = st
        .get(name)
        .ok_or_else(|| ModelError::MissingTensor(name.into()))?;
    if t.shape != [rows, cols] {
        return Err(ModelError::TensorShape {
            name: name.into(),
            expected: vec![rows, cols],
            found: t.shape.clone(),
        });
    }
    Ok(Mat::from_raw(t, rows, cols))
}

fn vector(st: &RawSafetensors, name: &str, len: usize) -> Result<Vec<f32>, ModelError> {
    let t = st
        .get(name)
        .ok_or_else(|| ModelError::MissingTensor(name.into()))?;
    if t.shape != [len] {
        return Err(ModelError::TensorShape {
            name: name.into(),
            expected: vec![len],
            found: t.shape.clone(),
        });
    }
    let mut out = vec![0.0; len];
    muse_kernels::dequant::dequantize_row(t.ty, st.bytes(t), &mut out).map_err(|source| {
        ModelError::Tensor {
            name: name.into(),
            source,
        }
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llama3_keeps_high_and_divides_low_frequencies() {
        let p = RopeParams {
            rope_type: Some("llama3".into()),
            factor: Some(8.0),
            low_freq_factor: Some(1.0),
            high_freq_factor: Some(4.0),
            original_max_position_embeddings: Some(8192.0),
            rope_theta: None,
        };
        let f = llama3_factors(500_000.0, 128, &p).unwrap();
        assert_eq!(f[0], 1.0, "the highest frequency is untouched");
        assert!(
            (f[63] - 8.0).abs() < 1e-6,
            "the lowest is divided by the factor"
        );
        assert!(
            f.windows(2).all(|w| w[0] <= w[1] + 1e-6),
            "monotone between"
        );
    }
}
