//! The down, middle and up blocks shared by [`crate::UNet2DModel`] and
//! [`crate::UNet2DConditionModel`], as in diffusers 0.42.1
//! (src/diffusers/models/unets/unet_2d_blocks.py). One struct per role; the attention layer
//! between the resnets is what distinguishes `DownBlock2D` (none), `AttnDownBlock2D` (spatial
//! self-attention) and `CrossAttnDownBlock2D` (a `Transformer2DModel`), and likewise for the up
//! and middle blocks.

use candle_core::{Result, Tensor};
use candle_nn::{Linear, VarBuilder};

use crate::nn::attention::AttentionConfig;
use crate::nn::{Attention, GroupNorm, linear};
use crate::resnet::{Downsample2D, ResnetBlock2D, ResnetConfig, TimeScaleShift, Upsample2D};
use crate::transformer_2d::{Transformer2DConfig, Transformer2DModel};

/// Which attention layer follows each resnet of a block.
#[derive(Debug, Clone, Copy)]
pub enum AttnSpec {
    /// None (`DownBlock2D`, `UpBlock2D`).
    None,
    /// Spatial self-attention over H·W with its own group norm and residual (`AttnDownBlock2D`).
    Spatial {
        /// Channels per head.
        head_dim: usize,
        /// Groups of its group norm.
        groups: usize,
    },
    /// `Transformer2DModel` with cross-attention (`CrossAttnDownBlock2D`).
    Transformer {
        /// Number of heads.
        heads: usize,
        /// Transformer blocks per attention.
        layers: usize,
        /// Width of the conditioning tokens.
        cross_attention_dim: usize,
        /// Linear (not 1x1 conv) `proj_in` / `proj_out`.
        use_linear_projection: bool,
    },
}

/// Everything a block needs to know about its shape.
#[derive(Debug, Clone, Copy)]
pub struct BlockConfig {
    /// Channels entering the block.
    pub in_channels: usize,
    /// Channels leaving each resnet.
    pub out_channels: usize,
    /// For up blocks: channels coming from the previous up block.
    pub prev_output_channels: usize,
    /// Width of the time embedding.
    pub temb_channels: usize,
    /// Resnets in the block.
    pub num_layers: usize,
    /// Group-norm groups of the resnets.
    pub groups: usize,
    /// Group-norm epsilon of the resnets.
    pub eps: f64,
    /// Resnet (and spatial attention) output divisor.
    pub output_scale_factor: f64,
    /// How the resnets use the time embedding.
    pub time_scale_shift: TimeScaleShift,
    /// The attention between resnets.
    pub attn: AttnSpec,
    /// Whether the block ends with a down/upsampler.
    pub resample: bool,
    /// Padding of the downsampler's convolution (0 = diffusers' asymmetric padding).
    pub downsample_padding: usize,
}

impl BlockConfig {
    fn resnet(&self, in_channels: usize, out_channels: usize) -> ResnetConfig {
        ResnetConfig {
            in_channels,
            out_channels,
            temb_channels: Some(self.temb_channels),
            groups: self.groups,
            eps: self.eps,
            output_scale_factor: self.output_scale_factor,
            time_scale_shift: self.time_scale_shift,
        }
    }
}

/// Self-attention over the pixels of a feature map (diffusers' `Attention` with
/// `residual_connection=True` and a group norm, as in `AttnDownBlock2D`).
#[derive(Debug, Clone)]
pub struct SpatialAttention {
    group_norm: GroupNorm,
    attn: Attention,
    rescale_output_factor: f64,
}

impl SpatialAttention {
    /// Loads `group_norm`, `to_q`, `to_k`, `to_v`, `to_out.0` — or the pre-0.13 names `query`,
    /// `key`, `value`, `proj_attn` that early checkpoints (the original google/ddpm-*) use.
    pub fn new(
        channels: usize,
        head_dim: usize,
        groups: usize,
        eps: f64,
        rescale_output_factor: f64,
        vb: VarBuilder,
    ) -> Result<Self> {
        let heads = (channels / head_dim.max(1)).max(1);
        let dim_head = channels / heads;
        let attn = if vb.contains_tensor("query.weight") {
            let l = |n: &str| -> Result<Linear> { linear(channels, channels, true, vb.pp(n)) };
            Attention::from_parts(
                [l("query")?, l("key")?, l("value")?, l("proj_attn")?],
                heads,
                dim_head,
            )
        } else {
            let cfg = AttentionConfig {
                query_dim: channels,
                cross_attention_dim: None,
                heads,
                dim_head,
                qkv_bias: true,
            };
            Attention::new(&cfg, vb.clone())?
        };
        Ok(Self {
            group_norm: GroupNorm::new(groups, channels, eps, vb.pp("group_norm"))?,
            attn,
            rescale_output_factor,
        })
    }

    /// `x` [B, C, H, W] -> [B, C, H, W].
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, c, h, w) = x.dims4()?;
        let t = self
            .group_norm
            .forward(&x.reshape((b, c, h * w))?)?
            .transpose(1, 2)?
            .contiguous()?;
        let t = self.attn.forward(&t, None)?;
        let t = t.transpose(1, 2)?.reshape((b, c, h, w))?;
        let y = (t + x)?;
        if self.rescale_output_factor == 1.0 {
            Ok(y)
        } else {
            y / self.rescale_output_factor
        }
    }
}

#[derive(Debug, Clone)]
enum BlockAttention {
    Spatial(SpatialAttention),
    Transformer(Transformer2DModel),
}

impl BlockAttention {
    fn new(cfg: &BlockConfig, channels: usize, vb: VarBuilder) -> Result<Option<Self>> {
        Ok(match cfg.attn {
            AttnSpec::None => None,
            AttnSpec::Spatial { head_dim, groups } => Some(Self::Spatial(SpatialAttention::new(
                channels,
                head_dim,
                groups,
                cfg.eps,
                cfg.output_scale_factor,
                vb,
            )?)),
            AttnSpec::Transformer {
                heads,
                layers,
                cross_attention_dim,
                use_linear_projection,
            } => Some(Self::Transformer(Transformer2DModel::new(
                &Transformer2DConfig {
                    in_channels: channels,
                    heads,
                    dim_head: channels / heads.max(1),
                    num_layers: layers,
                    cross_attention_dim,
                    norm_num_groups: cfg.groups,
                    use_linear_projection,
                },
                vb,
            )?)),
        })
    }

    fn forward(&self, x: &Tensor, context: Option<&Tensor>) -> Result<Tensor> {
        match (self, context) {
            (Self::Spatial(a), _) => a.forward(x),
            (Self::Transformer(t), Some(c)) => t.forward(x, c),
            (Self::Transformer(_), None) => {
                candle_core::bail!("a cross-attention block needs encoder_hidden_states")
            }
        }
    }
}

fn load_attentions(cfg: &BlockConfig, n: usize, vb: &VarBuilder) -> Result<Vec<BlockAttention>> {
    let mut out = Vec::new();
    for i in 0..n {
        if let Some(a) = BlockAttention::new(cfg, cfg.out_channels, vb.pp("attentions").pp(i))? {
            out.push(a);
        }
    }
    Ok(out)
}

/// A down block: `num_layers` × (resnet [+ attention]), then an optional downsampler.
#[derive(Debug, Clone)]
pub struct DownBlock {
    resnets: Vec<ResnetBlock2D>,
    attentions: Vec<BlockAttention>,
    downsampler: Option<Downsample2D>,
}

impl DownBlock {
    /// Loads `resnets.*`, `attentions.*`, `downsamplers.0`.
    pub fn new(cfg: &BlockConfig, vb: VarBuilder) -> Result<Self> {
        let resnets = (0..cfg.num_layers)
            .map(|i| {
                let in_c = if i == 0 {
                    cfg.in_channels
                } else {
                    cfg.out_channels
                };
                ResnetBlock2D::new(&cfg.resnet(in_c, cfg.out_channels), vb.pp("resnets").pp(i))
            })
            .collect::<Result<Vec<_>>>()?;
        let downsampler = if cfg.resample {
            Some(Downsample2D::new(
                cfg.out_channels,
                cfg.downsample_padding,
                vb.pp("downsamplers").pp(0),
            )?)
        } else {
            None
        };
        Ok(Self {
            attentions: load_attentions(cfg, cfg.num_layers, &vb)?,
            resnets,
            downsampler,
        })
    }

    /// Returns the output and the skip connections it produced (one per resnet, plus one after
    /// the downsampler).
    pub fn forward(
        &self,
        x: &Tensor,
        temb: &Tensor,
        context: Option<&Tensor>,
    ) -> Result<(Tensor, Vec<Tensor>)> {
        let mut h = x.clone();
        let mut skips = Vec::with_capacity(self.resnets.len() + 1);
        for (i, r) in self.resnets.iter().enumerate() {
            h = r.forward(&h, Some(temb))?;
            if let Some(a) = self.attentions.get(i) {
                h = a.forward(&h, context)?;
            }
            skips.push(h.clone());
        }
        if let Some(d) = &self.downsampler {
            h = d.forward(&h)?;
            skips.push(h.clone());
        }
        Ok((h, skips))
    }
}

/// The middle block: resnet, then `num_layers` × (attention, resnet).
#[derive(Debug, Clone)]
pub struct MidBlock {
    resnets: Vec<ResnetBlock2D>,
    attentions: Vec<BlockAttention>,
}

impl MidBlock {
    /// Loads `resnets.*` and `attentions.*`; `cfg.in_channels == cfg.out_channels`.
    pub fn new(cfg: &BlockConfig, vb: VarBuilder) -> Result<Self> {
        let c = cfg.in_channels;
        let resnets = (0..=cfg.num_layers)
            .map(|i| ResnetBlock2D::new(&cfg.resnet(c, c), vb.pp("resnets").pp(i)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            attentions: load_attentions(cfg, cfg.num_layers, &vb)?,
            resnets,
        })
    }

    /// `x` [B, C, H, W] -> [B, C, H, W].
    pub fn forward(&self, x: &Tensor, temb: &Tensor, context: Option<&Tensor>) -> Result<Tensor> {
        let mut h = x.clone();
        for (i, r) in self.resnets.iter().enumerate() {
            if i > 0
                && let Some(a) = self.attentions.get(i - 1)
            {
                h = a.forward(&h, context)?;
            }
            h = r.forward(&h, Some(temb))?;
        }
        Ok(h)
    }
}

/// An up block: `num_layers` × (concat a skip, resnet [+ attention]), then an optional upsampler.
#[derive(Debug, Clone)]
pub struct UpBlock {
    resnets: Vec<ResnetBlock2D>,
    attentions: Vec<BlockAttention>,
    upsampler: Option<Upsample2D>,
}

impl UpBlock {
    /// Loads `resnets.*`, `attentions.*`, `upsamplers.0`. `cfg.in_channels` is the width of the
    /// deepest skip it consumes (diffusers' `in_channels`).
    pub fn new(cfg: &BlockConfig, vb: VarBuilder) -> Result<Self> {
        let n = cfg.num_layers;
        let resnets = (0..n)
            .map(|i| {
                let skip = if i == n - 1 {
                    cfg.in_channels
                } else {
                    cfg.out_channels
                };
                let res_in = if i == 0 {
                    cfg.prev_output_channels
                } else {
                    cfg.out_channels
                };
                ResnetBlock2D::new(
                    &cfg.resnet(res_in + skip, cfg.out_channels),
                    vb.pp("resnets").pp(i),
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let upsampler = if cfg.resample {
            Some(Upsample2D::new(
                cfg.out_channels,
                vb.pp("upsamplers").pp(0),
            )?)
        } else {
            None
        };
        Ok(Self {
            attentions: load_attentions(cfg, n, &vb)?,
            resnets,
            upsampler,
        })
    }

    /// Number of skip connections this block consumes.
    pub fn num_skips(&self) -> usize {
        self.resnets.len()
    }

    /// Consumes skips from the end of `skips` (the most recent first).
    pub fn forward(
        &self,
        x: &Tensor,
        skips: &mut Vec<Tensor>,
        temb: &Tensor,
        context: Option<&Tensor>,
    ) -> Result<Tensor> {
        let mut h = x.clone();
        for (i, r) in self.resnets.iter().enumerate() {
            let Some(skip) = skips.pop() else {
                candle_core::bail!("up block ran out of skip connections")
            };
            h = r.forward(&Tensor::cat(&[&h, &skip], 1)?, Some(temb))?;
            if let Some(a) = self.attentions.get(i) {
                h = a.forward(&h, context)?;
            }
        }
        if let Some(u) = &self.upsampler {
            h = u.forward(&h)?;
        }
        Ok(h)
    }
}
