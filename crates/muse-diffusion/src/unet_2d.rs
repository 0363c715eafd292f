//! `UNet2DModel`: the unconditional noise predictor of DDPM (Ho et al. 2020) in diffusers'
//! checkpoint layout (diffusers 0.42.1, src/diffusers/models/unets/unet_2d.py), as in
//! google/ddpm-cifar10-32 and google/ddpm-ema-church-256.

use std::path::Path;

use candle_core::{DType, Device, Result as CResult, Tensor};
use candle_nn::VarBuilder;
use serde::Deserialize;

use crate::embeddings::{TimestepEmbedding, Timesteps};
use crate::error::{DiffusionError, Result};
use crate::loading::{model_weights, read_model_config, resolve_time_scale_shift};
use crate::nn::{Conv2d, GroupNorm};
use crate::unet_2d_blocks::{AttnSpec, BlockConfig, DownBlock, MidBlock, UpBlock};
use crate::unet_2d_condition::broadcast_timestep;

/// Down block types of the unconditional UNet.
pub const DOWN_BLOCKS: [&str; 2] = ["DownBlock2D", "AttnDownBlock2D"];
/// Up block types of the unconditional UNet.
pub const UP_BLOCKS: [&str; 2] = ["UpBlock2D", "AttnUpBlock2D"];

fn d_true() -> bool {
    true
}
fn d_three() -> usize {
    3
}
fn d_down() -> Vec<String> {
    [
        "DownBlock2D",
        "AttnDownBlock2D",
        "AttnDownBlock2D",
        "AttnDownBlock2D",
    ]
    .map(String::from)
    .to_vec()
}
fn d_up() -> Vec<String> {
    [
        "AttnUpBlock2D",
        "AttnUpBlock2D",
        "AttnUpBlock2D",
        "UpBlock2D",
    ]
    .map(String::from)
    .to_vec()
}
fn d_boc() -> Vec<usize> {
    vec![224, 448, 672, 896]
}
fn d_two() -> usize {
    2
}
fn d_one() -> usize {
    1
}
fn d_scale() -> f64 {
    1.0
}
fn d_act() -> String {
    "silu".into()
}
fn d_head() -> Option<usize> {
    Some(8)
}
fn d_groups() -> Option<usize> {
    Some(32)
}
fn d_eps() -> f64 {
    1e-5
}
fn d_shift() -> String {
    "default".into()
}
fn d_pos() -> String {
    "positional".into()
}
fn d_conv() -> String {
    "conv".into()
}

/// `config.json` of a diffusers `UNet2DModel`.
#[derive(Debug, Clone, Deserialize)]
pub struct UNet2DModelConfig {
    /// Image height/width.
    #[serde(default)]
    pub sample_size: Option<usize>,
    /// Input channels.
    #[serde(default = "d_three")]
    pub in_channels: usize,
    /// Output channels.
    #[serde(default = "d_three")]
    pub out_channels: usize,
    /// Maps the input from [0, 1] to [-1, 1] first.
    #[serde(default)]
    pub center_input_sample: bool,
    /// Only `positional`.
    #[serde(default = "d_pos")]
    pub time_embedding_type: String,
    /// `downscale_freq_shift` of the timestep embedding.
    #[serde(default)]
    pub freq_shift: f64,
    /// Sinusoidal embedding order `[cos, sin]`.
    #[serde(default = "d_true")]
    pub flip_sin_to_cos: bool,
    /// Down block types.
    #[serde(default = "d_down")]
    pub down_block_types: Vec<String>,
    /// Up block types.
    #[serde(default = "d_up")]
    pub up_block_types: Vec<String>,
    /// Channels of each block.
    #[serde(default = "d_boc")]
    pub block_out_channels: Vec<usize>,
    /// Resnets per down block.
    #[serde(default = "d_two")]
    pub layers_per_block: usize,
    /// Output divisor of the middle block.
    #[serde(default = "d_scale")]
    pub mid_block_scale_factor: f64,
    /// Padding of the downsampling convolutions (0: asymmetric, as the original DDPM).
    #[serde(default = "d_one")]
    pub downsample_padding: usize,
    /// Only `conv`.
    #[serde(default = "d_conv")]
    pub downsample_type: String,
    /// Only `conv`.
    #[serde(default = "d_conv")]
    pub upsample_type: String,
    /// Only `silu`.
    #[serde(default = "d_act")]
    pub act_fn: String,
    /// Channels per attention head (`null`: one head).
    #[serde(default = "d_head")]
    pub attention_head_dim: Option<usize>,
    /// Group-norm groups.
    #[serde(default = "d_groups")]
    pub norm_num_groups: Option<usize>,
    /// Group-norm groups of the middle attention (default: `norm_num_groups`).
    #[serde(default)]
    pub attn_norm_num_groups: Option<usize>,
    /// Group-norm epsilon.
    #[serde(default = "d_eps")]
    pub norm_eps: f64,
    /// `default` or `scale_shift`.
    #[serde(default = "d_shift")]
    pub resnet_time_scale_shift: String,
    /// Attention in the middle block.
    #[serde(default = "d_true")]
    pub add_attention: bool,
    /// Only `null`.
    #[serde(default)]
    pub class_embed_type: Option<String>,
    /// Only `null`.
    #[serde(default)]
    pub num_class_embeds: Option<usize>,
}

/// Validated runtime configuration of a [`UNet2DModel`].
#[derive(Debug, Clone)]
pub struct Config {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Image size the model was trained at.
    pub sample_size: Option<usize>,
    /// Channels of each block.
    pub block_out_channels: Vec<usize>,
    center_input_sample: bool,
    time_proj: Timesteps,
    down: Vec<BlockConfig>,
    mid: BlockConfig,
    up: Vec<BlockConfig>,
    out_groups: usize,
    eps: f64,
}

impl Config {
    /// `2^(number of downsamplers)`: image sizes must divide by it.
    pub fn downsample_factor(&self) -> usize {
        1 << self.down.iter().filter(|b| b.resample).count()
    }
}

fn unsupported(
    what: &'static str,
    found: impl ToString,
    supported: &[&'static str],
) -> DiffusionError {
    DiffusionError::Unsupported {
        what,
        found: found.to_string(),
        supported: supported.to_vec(),
    }
}

impl UNet2DModelConfig {
    /// Checks every setting and lays out the blocks.
    pub fn into_config(self) -> Result<Config> {
        let boc = self.block_out_channels.clone();
        let n = boc.len();
        if n == 0 || self.down_block_types.len() != n || self.up_block_types.len() != n {
            return Err(DiffusionError::config(format!(
                "block_out_channels ({n}), down_block_types ({}) and up_block_types ({}) must have the same non-zero length",
                self.down_block_types.len(),
                self.up_block_types.len()
            )));
        }
        if self.act_fn != "silu" {
            return Err(unsupported("act_fn", &self.act_fn, &["silu"]));
        }
        if self.time_embedding_type != "positional" {
            return Err(unsupported(
                "time_embedding_type",
                &self.time_embedding_type,
                &["positional"],
            ));
        }
        if self.downsample_type != "conv" {
            return Err(unsupported(
                "downsample_type",
                &self.downsample_type,
                &["conv"],
            ));
        }
        if self.upsample_type != "conv" {
            return Err(unsupported("upsample_type", &self.upsample_type, &["conv"]));
        }
        if let Some(c) = &self.class_embed_type {
            return Err(unsupported("class_embed_type", c, &["null"]));
        }
        if let Some(c) = self.num_class_embeds {
            return Err(unsupported("num_class_embeds", c, &["null"]));
        }
        let groups = self.norm_num_groups.unwrap_or(32);
        for (i, &c) in boc.iter().enumerate() {
            if c == 0 || !c.is_multiple_of(groups) {
                return Err(DiffusionError::config(format!(
                    "block_out_channels[{i}] = {c} is not a positive multiple of norm_num_groups = {groups}"
                )));
            }
        }
        let time_scale_shift = resolve_time_scale_shift(&self.resnet_time_scale_shift)?;
        let temb = 4 * boc[0];
        let base = BlockConfig {
            in_channels: 0,
            out_channels: 0,
            prev_output_channels: 0,
            temb_channels: temb,
            num_layers: self.layers_per_block,
            groups,
            eps: self.norm_eps,
            output_scale_factor: 1.0,
            time_scale_shift,
            attn: AttnSpec::None,
            resample: false,
            downsample_padding: self.downsample_padding,
        };
        let spatial = |c: usize, g: usize| AttnSpec::Spatial {
            head_dim: self.attention_head_dim.unwrap_or(c),
            groups: g,
        };
        let mut down = Vec::with_capacity(n);
        for (i, ty) in self.down_block_types.iter().enumerate() {
            let attn = match ty.as_str() {
                "DownBlock2D" => AttnSpec::None,
                "AttnDownBlock2D" => spatial(boc[i], groups),
                other => return Err(unsupported("down_block_types", other, &DOWN_BLOCKS)),
            };
            down.push(BlockConfig {
                in_channels: if i == 0 { boc[0] } else { boc[i - 1] },
                out_channels: boc[i],
                attn,
                resample: i + 1 < n,
                ..base
            });
        }
        let c = boc[n - 1];
        let attn_groups = match (self.attn_norm_num_groups, time_scale_shift) {
            (Some(g), _) => g,
            (None, crate::resnet::TimeScaleShift::Default) => groups,
            (None, _) => {
                return Err(DiffusionError::config(
                    "attn_norm_num_groups is required with resnet_time_scale_shift other than default",
                ));
            }
        };
        let mid = BlockConfig {
            in_channels: c,
            out_channels: c,
            num_layers: usize::from(self.add_attention).max(1),
            output_scale_factor: self.mid_block_scale_factor,
            attn: if self.add_attention {
                spatial(c, attn_groups)
            } else {
                AttnSpec::None
            },
            ..base
        };
        let mut up = Vec::with_capacity(n);
        let mut out_c = c;
        for (i, ty) in self.up_block_types.iter().enumerate() {
            let r = n - 1 - i;
            let prev = out_c;
            out_c = boc[r];
            let attn = match ty.as_str() {
                "UpBlock2D" => AttnSpec::None,
                "AttnUpBlock2D" => spatial(out_c, groups),
                other => return Err(unsupported("up_block_types", other, &UP_BLOCKS)),
            };
            up.push(BlockConfig {
                in_channels: boc[r.saturating_sub(1)],
                out_channels: out_c,
                prev_output_channels: prev,
                num_layers: self.layers_per_block + 1,
                attn,
                resample: i + 1 < n,
                ..base
            });
        }
        Ok(Config {
            in_channels: self.in_channels,
            out_channels: self.out_channels,
            sample_size: self.sample_size,
            block_out_channels: boc.clone(),
            center_input_sample: self.center_input_sample,
            time_proj: Timesteps {
                dim: boc[0],
                flip_sin_to_cos: self.flip_sin_to_cos,
                freq_shift: self.freq_shift,
            },
            down,
            mid,
            up,
            out_groups: self.norm_num_groups.unwrap_or((boc[0] / 4).min(32)),
            eps: self.norm_eps,
        })
    }
}

/// The unconditional UNet. Weight names follow the diffusers checkpoint.
#[derive(Debug, Clone)]
pub struct UNet2DModel {
    conv_in: Conv2d,
    time_proj: Timesteps,
    time_embedding: TimestepEmbedding,
    down_blocks: Vec<DownBlock>,
    mid_block: MidBlock,
    up_blocks: Vec<UpBlock>,
    conv_norm_out: GroupNorm,
    conv_out: Conv2d,
    config: Config,
}

impl UNet2DModel {
    /// Builds the model from `vb` (a checkpoint, or a `VarMap` for training).
    pub fn new(cfg: &Config, vb: VarBuilder) -> CResult<Self> {
        let c0 = cfg.block_out_channels[0];
        let down_blocks = cfg
            .down
            .iter()
            .enumerate()
            .map(|(i, b)| DownBlock::new(b, vb.pp("down_blocks").pp(i)))
            .collect::<CResult<Vec<_>>>()?;
        let up_blocks = cfg
            .up
            .iter()
            .enumerate()
            .map(|(i, b)| UpBlock::new(b, vb.pp("up_blocks").pp(i)))
            .collect::<CResult<Vec<_>>>()?;
        Ok(Self {
            conv_in: Conv2d::new(cfg.in_channels, c0, 3, 1, 1, true, vb.pp("conv_in"))?,
            time_proj: cfg.time_proj,
            time_embedding: TimestepEmbedding::new(c0, 4 * c0, vb.pp("time_embedding"))?,
            down_blocks,
            mid_block: MidBlock::new(&cfg.mid, vb.pp("mid_block"))?,
            up_blocks,
            conv_norm_out: GroupNorm::new(cfg.out_groups, c0, cfg.eps, vb.pp("conv_norm_out"))?,
            conv_out: Conv2d::new(c0, cfg.out_channels, 3, 1, 1, true, vb.pp("conv_out"))?,
            config: cfg.clone(),
        })
    }

    /// Loads `config.json` + `diffusion_pytorch_model.safetensors` from a diffusers folder.
    pub fn load(dir: &Path, dtype: DType, device: &Device) -> Result<Self> {
        let raw: UNet2DModelConfig = read_model_config(dir)?;
        let cfg = raw.into_config()?;
        let vb = model_weights(dir, dtype, device)?;
        Ok(Self::new(&cfg, vb)?)
    }

    /// The runtime configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Predicts the noise for `sample` [B, C, H, W] at `timestep` [B] (or [1], broadcast).
    pub fn forward(&self, sample: &Tensor, timestep: &Tensor) -> CResult<Tensor> {
        let (b, _, h, w) = sample.dims4()?;
        let f = self.config.downsample_factor();
        if h % f != 0 || w % f != 0 {
            candle_core::bail!(
                "sample size {h}x{w} is not divisible by the UNet's downsampling factor {f}"
            );
        }
        let t = broadcast_timestep(timestep, b)?;
        let emb = self
            .time_embedding
            .forward(&self.time_proj.forward(&t)?.to_dtype(sample.dtype())?)?;
        let x = if self.config.center_input_sample {
            ((sample * 2.0)? - 1.0)?
        } else {
            sample.clone()
        };
        let mut h = self.conv_in.forward(&x)?;
        let mut skips = vec![h.clone()];
        for block in &self.down_blocks {
            let (out, s) = block.forward(&h, &emb, None)?;
            h = out;
            skips.extend(s);
        }
        h = self.mid_block.forward(&h, &emb, None)?;
        for block in &self.up_blocks {
            h = block.forward(&h, &mut skips, &emb, None)?;
        }
        self.conv_out.forward(&self.conv_norm_out.forward_silu(&h)?)
    }
}
