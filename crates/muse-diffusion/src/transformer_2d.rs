//! `Transformer2DModel` with `BasicTransformerBlock`s (self-attention, cross-attention, GEGLU
//! feed-forward) as Stable Diffusion's UNet uses it (diffusers 0.42.1,
//! src/diffusers/models/transformers/transformer_2d.py and attention.py; Rombach et al. 2022,
//! "High-Resolution Image Synthesis with Latent Diffusion Models").

use candle_core::{Result, Tensor};
use candle_nn::{Linear, Module, VarBuilder};

use crate::nn::attention::AttentionConfig;
use crate::nn::{Attention, Conv2d, GroupNorm, LayerNorm, linear};

/// Shape of one `Transformer2DModel`.
#[derive(Debug, Clone, Copy)]
pub struct Transformer2DConfig {
    /// Channels in and out.
    pub in_channels: usize,
    /// Number of heads.
    pub heads: usize,
    /// Channels per head (`heads * dim_head` is the inner width).
    pub dim_head: usize,
    /// Number of `transformer_blocks`.
    pub num_layers: usize,
    /// Width of the conditioning tokens.
    pub cross_attention_dim: usize,
    /// Groups of the input group norm.
    pub norm_num_groups: usize,
    /// `proj_in`/`proj_out` are linear layers (SD 2.x) instead of 1x1 convolutions (SD 1.x).
    pub use_linear_projection: bool,
}

/// GELU-gated linear unit: `proj` to twice the width, `a * gelu(b)`.
#[derive(Debug, Clone)]
struct GeGlu {
    proj: Linear,
}

impl GeGlu {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.proj.forward(x)?;
        let parts = h.chunk(2, candle_core::D::Minus1)?;
        // torch's F.gelu default is the exact (erf) GELU.
        parts[0].mul(&parts[1].gelu_erf()?)
    }
}

/// `FeedForward` with GEGLU: `net.0.proj` then `net.2` (`net.1` is dropout).
#[derive(Debug, Clone)]
struct FeedForward {
    geglu: GeGlu,
    out: Linear,
}

impl FeedForward {
    fn new(dim: usize, vb: VarBuilder) -> Result<Self> {
        let inner = 4 * dim;
        Ok(Self {
            geglu: GeGlu {
                proj: linear(dim, 2 * inner, true, vb.pp("net.0.proj"))?,
            },
            out: linear(inner, dim, true, vb.pp("net.2"))?,
        })
    }
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.out.forward(&self.geglu.forward(x)?)
    }
}

/// Pre-norm block: self-attention, cross-attention, feed-forward, each with a residual.
#[derive(Debug, Clone)]
pub struct BasicTransformerBlock {
    norm1: LayerNorm,
    attn1: Attention,
    norm2: LayerNorm,
    attn2: Attention,
    norm3: LayerNorm,
    ff: FeedForward,
}

impl BasicTransformerBlock {
    /// Loads one block; `dim = heads * dim_head`.
    pub fn new(cfg: &Transformer2DConfig, vb: VarBuilder) -> Result<Self> {
        let dim = cfg.heads * cfg.dim_head;
        let attn = |cross: Option<usize>| AttentionConfig {
            query_dim: dim,
            cross_attention_dim: cross,
            heads: cfg.heads,
            dim_head: cfg.dim_head,
            qkv_bias: false,
        };
        Ok(Self {
            norm1: LayerNorm::new(dim, 1e-5, vb.pp("norm1"))?,
            attn1: Attention::new(&attn(None), vb.pp("attn1"))?,
            norm2: LayerNorm::new(dim, 1e-5, vb.pp("norm2"))?,
            attn2: Attention::new(&attn(Some(cfg.cross_attention_dim)), vb.pp("attn2"))?,
            norm3: LayerNorm::new(dim, 1e-5, vb.pp("norm3"))?,
            ff: FeedForward::new(dim, vb.pp("ff"))?,
        })
    }

    /// `x` [B, S, dim], `context` [B, S2, cross_attention_dim].
    pub fn forward(&self, x: &Tensor, context: &Tensor) -> Result<Tensor> {
        let x = (self.attn1.forward(&self.norm1.forward(x)?, None)? + x)?;
        let x = (self
            .attn2
            .forward(&self.norm2.forward(&x)?, Some(context))?
            + &x)?;
        self.ff.forward(&self.norm3.forward(&x)?)? + &x
    }
}

#[derive(Debug, Clone)]
enum Proj {
    Conv(Conv2d),
    Linear(Linear),
}

/// Group norm, `proj_in`, transformer blocks over the H·W tokens, `proj_out`, residual.
#[derive(Debug, Clone)]
pub struct Transformer2DModel {
    norm: GroupNorm,
    proj_in: Proj,
    transformer_blocks: Vec<BasicTransformerBlock>,
    proj_out: Proj,
    inner: usize,
}

impl Transformer2DModel {
    /// Loads `norm`, `proj_in`, `transformer_blocks.*`, `proj_out` from `vb`.
    pub fn new(cfg: &Transformer2DConfig, vb: VarBuilder) -> Result<Self> {
        let c = cfg.in_channels;
        let inner = cfg.heads * cfg.dim_head;
        let (proj_in, proj_out) = if cfg.use_linear_projection {
            (
                Proj::Linear(linear(c, inner, true, vb.pp("proj_in"))?),
                Proj::Linear(linear(inner, c, true, vb.pp("proj_out"))?),
            )
        } else {
            (
                Proj::Conv(Conv2d::new(c, inner, 1, 1, 0, true, vb.pp("proj_in"))?),
                Proj::Conv(Conv2d::new(inner, c, 1, 1, 0, true, vb.pp("proj_out"))?),
            )
        };
        let transformer_blocks = (0..cfg.num_layers)
            .map(|i| BasicTransformerBlock::new(cfg, vb.pp("transformer_blocks").pp(i)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            norm: GroupNorm::new(cfg.norm_num_groups, c, 1e-6, vb.pp("norm"))?,
            proj_in,
            transformer_blocks,
            proj_out,
            inner,
        })
    }

    /// `x` [B, C, H, W], `context` [B, S, cross_attention_dim] -> [B, C, H, W].
    pub fn forward(&self, x: &Tensor, context: &Tensor) -> Result<Tensor> {
        let (b, c, h, w) = x.dims4()?;
        let normed = self.norm.forward(x)?;
        let mut t = match &self.proj_in {
            Proj::Conv(conv) => {
                conv.forward(&normed)?
                    .permute((0, 2, 3, 1))?
                    .reshape((b, h * w, self.inner))?
            }
            Proj::Linear(l) => {
                l.forward(&normed.permute((0, 2, 3, 1))?.reshape((b, h * w, c))?)?
            }
        };
        for block in &self.transformer_blocks {
            t = block.forward(&t, context)?;
        }
        let out = match &self.proj_out {
            Proj::Conv(conv) => conv.forward(
                &t.reshape((b, h, w, self.inner))?
                    .permute((0, 3, 1, 2))?
                    .contiguous()?,
            )?,
            Proj::Linear(l) => l
                .forward(&t)?
                .reshape((b, h, w, c))?
                .permute((0, 3, 1, 2))?,
        };
        out + x
    }
}
