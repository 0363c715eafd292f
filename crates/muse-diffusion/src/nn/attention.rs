//! Multi-head scaled dot-product attention as diffusers' `Attention` with the default
//! `AttnProcessor` (diffusers 0.42.1, src/diffusers/models/attention_processor.py): the projection
//! weights are `to_q`, `to_k`, `to_v`, `to_out.0`. The softmax is candle-nn's composed `softmax`
//! (not the fused `softmax_last_dim`, which has no backward pass).

use candle_core::{D, Result, Tensor};
use candle_nn::{Linear, Module, VarBuilder};

use super::linear;

/// Shape of one attention layer.
#[derive(Debug, Clone, Copy)]
pub struct AttentionConfig {
    /// Channels of the queries (and of the output).
    pub query_dim: usize,
    /// Channels of keys/values source; `None` = self-attention.
    pub cross_attention_dim: Option<usize>,
    /// Number of heads.
    pub heads: usize,
    /// Channels per head.
    pub dim_head: usize,
    /// Whether `to_q`/`to_k`/`to_v` have a bias (`to_out.0` always has one).
    pub qkv_bias: bool,
}

/// Multi-head attention with input/output projections.
#[derive(Debug, Clone)]
pub struct Attention {
    to_q: Linear,
    to_k: Linear,
    to_v: Linear,
    to_out: Linear,
    heads: usize,
    dim_head: usize,
    scale: f64,
}

impl Attention {
    /// Loads `to_q`, `to_k`, `to_v`, `to_out.0` from `vb`.
    pub fn new(cfg: &AttentionConfig, vb: VarBuilder) -> Result<Self> {
        let inner = cfg.heads * cfg.dim_head;
        let kv_dim = cfg.cross_attention_dim.unwrap_or(cfg.query_dim);
        Ok(Self {
            to_q: linear(cfg.query_dim, inner, cfg.qkv_bias, vb.pp("to_q"))?,
            to_k: linear(kv_dim, inner, cfg.qkv_bias, vb.pp("to_k"))?,
            to_v: linear(kv_dim, inner, cfg.qkv_bias, vb.pp("to_v"))?,
            to_out: linear(inner, cfg.query_dim, true, vb.pp("to_out").pp("0"))?,
            heads: cfg.heads,
            dim_head: cfg.dim_head,
            scale: 1.0 / (cfg.dim_head as f64).sqrt(),
        })
    }

    /// Builds the layer from already-loaded projections (for checkpoints with older key names).
    pub fn from_parts(
        [to_q, to_k, to_v, to_out]: [Linear; 4],
        heads: usize,
        dim_head: usize,
    ) -> Self {
        Self {
            to_q,
            to_k,
            to_v,
            to_out,
            heads,
            dim_head,
            scale: 1.0 / (dim_head as f64).sqrt(),
        }
    }

    fn split_heads(&self, x: &Tensor) -> Result<Tensor> {
        let (b, s, _) = x.dims3()?;
        x.reshape((b, s, self.heads, self.dim_head))?
            .transpose(1, 2)?
            .contiguous()
    }

    /// `x` [B, S, query_dim], `context` [B, S2, cross_dim] (or `None`: self-attention) -> [B, S, query_dim].
    pub fn forward(&self, x: &Tensor, context: Option<&Tensor>) -> Result<Tensor> {
        let (b, s, _) = x.dims3()?;
        let ctx = context.unwrap_or(x);
        let q = self.split_heads(&self.to_q.forward(x)?)?;
        let k = self.split_heads(&self.to_k.forward(ctx)?)?;
        let v = self.split_heads(&self.to_v.forward(ctx)?)?;
        let scores = (q.matmul(&k.t()?)? * self.scale)?;
        let probs = candle_nn::ops::softmax(&scores, D::Minus1)?;
        let out = probs.matmul(&v)?; // [B, H, S, dh]
        let out = out
            .transpose(1, 2)?
            .reshape((b, s, self.heads * self.dim_head))?;
        self.to_out.forward(&out)
    }
}
