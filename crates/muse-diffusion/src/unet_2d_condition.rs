//! `UNet2DConditionModel`: the text-conditioned noise predictor of Stable Diffusion 1.x/2.x
//! (Rombach et al. 2022) in diffusers' checkpoint layout (diffusers 0.42.1,
//! src/diffusers/models/unets/unet_2d_condition.py). Every op has a candle backward pass, so the
//! model trains when built from a `VarMap`-backed `VarBuilder`.

use std::path::Path;

use candle_core::{DType, Device, Result as CResult, Tensor};
use candle_nn::VarBuilder;
use serde::Deserialize;

use crate::embeddings::{TimestepEmbedding, Timesteps};
use crate::error::{DiffusionError, Result};
use crate::loading::{PerBlock, model_weights, read_model_config, resolve_time_scale_shift};
use crate::nn::{Conv2d, GroupNorm};
use crate::unet_2d_blocks::{AttnSpec, BlockConfig, DownBlock, MidBlock, UpBlock};

/// Down block types this crate implements for the conditional UNet.
pub const COND_DOWN_BLOCKS: [&str; 2] = ["DownBlock2D", "CrossAttnDownBlock2D"];
/// Up block types this crate implements for the conditional UNet.
pub const COND_UP_BLOCKS: [&str; 2] = ["UpBlock2D", "CrossAttnUpBlock2D"];
/// Middle block types this crate implements for the conditional UNet.
pub const COND_MID_BLOCKS: [&str; 1] = ["UNetMidBlock2DCrossAttn"];

fn default_true() -> bool {
    true
}
fn default_sample_size() -> usize {
    64
}
fn default_channels() -> usize {
    4
}
fn default_down() -> Vec<String> {
    [
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "DownBlock2D",
    ]
    .map(String::from)
    .to_vec()
}
fn default_up() -> Vec<String> {
    [
        "UpBlock2D",
        "CrossAttnUpBlock2D",
        "CrossAttnUpBlock2D",
        "CrossAttnUpBlock2D",
    ]
    .map(String::from)
    .to_vec()
}
fn default_mid() -> Option<String> {
    Some("UNetMidBlock2DCrossAttn".into())
}
fn default_boc() -> Vec<usize> {
    vec![320, 640, 1280, 1280]
}
fn default_layers() -> PerBlock<usize> {
    PerBlock::One(2)
}
fn default_one() -> PerBlock<usize> {
    PerBlock::One(1)
}
fn default_pad() -> usize {
    1
}
fn default_scale() -> f64 {
    1.0
}
fn default_act() -> String {
    "silu".into()
}
fn default_groups() -> Option<usize> {
    Some(32)
}
fn default_eps() -> f64 {
    1e-5
}
fn default_cross() -> PerBlock<usize> {
    PerBlock::One(1280)
}
fn default_head_dim() -> PerBlock<usize> {
    PerBlock::One(8)
}
fn default_shift() -> String {
    "default".into()
}
fn default_positional() -> String {
    "positional".into()
}
fn default_kernel() -> usize {
    3
}

/// `config.json` of a diffusers `UNet2DConditionModel` (field names as diffusers writes them).
#[derive(Debug, Clone, Deserialize)]
pub struct UNet2DConditionModelConfig {
    /// Latent height/width the model was trained at.
    #[serde(default = "default_sample_size")]
    pub sample_size: usize,
    /// Input channels.
    #[serde(default = "default_channels")]
    pub in_channels: usize,
    /// Output channels.
    #[serde(default = "default_channels")]
    pub out_channels: usize,
    /// Maps the input from [0, 1] to [-1, 1] first.
    #[serde(default)]
    pub center_input_sample: bool,
    /// Sinusoidal embedding order `[cos, sin]`.
    #[serde(default = "default_true")]
    pub flip_sin_to_cos: bool,
    /// `downscale_freq_shift` of the timestep embedding.
    #[serde(default)]
    pub freq_shift: f64,
    /// Down block types.
    #[serde(default = "default_down")]
    pub down_block_types: Vec<String>,
    /// Middle block type (`null`: none).
    #[serde(default = "default_mid")]
    pub mid_block_type: Option<String>,
    /// Up block types.
    #[serde(default = "default_up")]
    pub up_block_types: Vec<String>,
    /// Only `false` is supported.
    #[serde(default)]
    pub only_cross_attention: serde_json::Value,
    /// Channels of each down block.
    #[serde(default = "default_boc")]
    pub block_out_channels: Vec<usize>,
    /// Resnets per down block (up blocks have one more).
    #[serde(default = "default_layers")]
    pub layers_per_block: PerBlock<usize>,
    /// Padding of the downsampling convolutions.
    #[serde(default = "default_pad")]
    pub downsample_padding: usize,
    /// Output divisor of the middle block's resnets.
    #[serde(default = "default_scale")]
    pub mid_block_scale_factor: f64,
    /// Only `silu` is supported.
    #[serde(default = "default_act")]
    pub act_fn: String,
    /// Group-norm groups.
    #[serde(default = "default_groups")]
    pub norm_num_groups: Option<usize>,
    /// Group-norm epsilon.
    #[serde(default = "default_eps")]
    pub norm_eps: f64,
    /// Width of the conditioning tokens.
    #[serde(default = "default_cross")]
    pub cross_attention_dim: PerBlock<usize>,
    /// Transformer blocks per attention layer.
    #[serde(default = "default_one")]
    pub transformer_layers_per_block: PerBlock<usize>,
    /// Despite the name, diffusers uses this as the number of heads when `num_attention_heads`
    /// is absent (a naming accident kept for checkpoint compatibility).
    #[serde(default = "default_head_dim")]
    pub attention_head_dim: PerBlock<usize>,
    /// Number of heads per block.
    #[serde(default)]
    pub num_attention_heads: Option<PerBlock<usize>>,
    /// Linear `proj_in`/`proj_out` in the transformers (SD 2.x).
    #[serde(default)]
    pub use_linear_projection: bool,
    /// `null` or `"projection"`.
    #[serde(default)]
    pub class_embed_type: Option<String>,
    /// Input width of the `"projection"` class embedding.
    #[serde(default)]
    pub projection_class_embeddings_input_dim: Option<usize>,
    /// Only `null` is supported.
    #[serde(default)]
    pub num_class_embeds: Option<usize>,
    /// Only `null` is supported.
    #[serde(default)]
    pub addition_embed_type: Option<String>,
    /// Only `null` is supported.
    #[serde(default)]
    pub encoder_hid_dim: Option<usize>,
    /// `default` or `scale_shift`.
    #[serde(default = "default_shift")]
    pub resnet_time_scale_shift: String,
    /// Only `positional` is supported.
    #[serde(default = "default_positional")]
    pub time_embedding_type: String,
    /// Width of the time embedding (default `4 * block_out_channels[0]`).
    #[serde(default)]
    pub time_embedding_dim: Option<usize>,
    /// Only `null` is supported.
    #[serde(default)]
    pub time_embedding_act_fn: Option<String>,
    /// Kernel of `conv_in`.
    #[serde(default = "default_kernel")]
    pub conv_in_kernel: usize,
    /// Kernel of `conv_out`.
    #[serde(default = "default_kernel")]
    pub conv_out_kernel: usize,
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

/// Validated runtime configuration of a [`UNet2DConditionModel`].
#[derive(Debug, Clone)]
pub struct Config {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Latent size the model was trained at.
    pub sample_size: usize,
    /// Channels of each block.
    pub block_out_channels: Vec<usize>,
    /// Width of the conditioning tokens (the last block's, as the pipeline uses it).
    pub cross_attention_dim: usize,
    /// Input width of the projection class embedding, when the model has one.
    pub class_embed_input_dim: Option<usize>,
    center_input_sample: bool,
    time_proj: Timesteps,
    time_embed_dim: usize,
    down: Vec<BlockConfig>,
    mid: Option<BlockConfig>,
    up: Vec<BlockConfig>,
    groups: usize,
    eps: f64,
    conv_in_kernel: usize,
    conv_out_kernel: usize,
}

impl Config {
    /// Total down-sampling factor (`2^(number of downsamplers)`): sample sizes must divide by it.
    pub fn downsample_factor(&self) -> usize {
        1 << self.down.iter().filter(|b| b.resample).count()
    }
}

impl UNet2DConditionModelConfig {
    /// Checks every setting and resolves per-block values.
    pub fn into_config(self) -> Result<Config> {
        let n = self.block_out_channels.len();
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
        match &self.only_cross_attention {
            serde_json::Value::Null | serde_json::Value::Bool(false) => {}
            serde_json::Value::Array(a)
                if a.iter().all(|v| v == &serde_json::Value::Bool(false)) => {}
            other => return Err(unsupported("only_cross_attention", other, &["false"])),
        }
        if let Some(t) = &self.addition_embed_type {
            return Err(unsupported("addition_embed_type", t, &["null"]));
        }
        if let Some(d) = self.encoder_hid_dim {
            return Err(unsupported("encoder_hid_dim", d, &["null"]));
        }
        if let Some(d) = self.num_class_embeds {
            return Err(unsupported("num_class_embeds", d, &["null"]));
        }
        if let Some(a) = &self.time_embedding_act_fn {
            return Err(unsupported("time_embedding_act_fn", a, &["null"]));
        }
        let class_embed_input_dim = match self.class_embed_type.as_deref() {
            None => None,
            Some("projection") => Some(self.projection_class_embeddings_input_dim.ok_or_else(|| {
                DiffusionError::config("class_embed_type \"projection\" needs projection_class_embeddings_input_dim")
            })?),
            Some(other) => return Err(unsupported("class_embed_type", other, &["null", "projection"])),
        };
        let groups = self
            .norm_num_groups
            .ok_or_else(|| unsupported("norm_num_groups", "null", &["an integer"]))?;
        for (i, &c) in self.block_out_channels.iter().enumerate() {
            if c == 0 || !c.is_multiple_of(groups) {
                return Err(DiffusionError::config(format!(
                    "block_out_channels[{i}] = {c} is not a positive multiple of norm_num_groups = {groups}"
                )));
            }
        }
        let time_scale_shift = resolve_time_scale_shift(&self.resnet_time_scale_shift)?;
        let heads = self
            .num_attention_heads
            .clone()
            .unwrap_or_else(|| self.attention_head_dim.clone());
        let boc = &self.block_out_channels;
        let time_embed_dim = self.time_embedding_dim.unwrap_or(4 * boc[0]);
        for (what, v) in [
            ("layers_per_block", &self.layers_per_block),
            (
                "transformer_layers_per_block",
                &self.transformer_layers_per_block,
            ),
            ("cross_attention_dim", &self.cross_attention_dim),
            ("attention_head_dim / num_attention_heads", &heads),
        ] {
            v.check_len(what, n)?;
        }
        let transformer = |i: usize, channels: usize| -> Result<AttnSpec> {
            let h = heads.get(i);
            if h == 0 || !channels.is_multiple_of(h) {
                return Err(DiffusionError::config(format!(
                    "block {i}: {channels} channels do not split into {h} attention heads"
                )));
            }
            Ok(AttnSpec::Transformer {
                heads: h,
                layers: self.transformer_layers_per_block.get(i),
                cross_attention_dim: self.cross_attention_dim.get(i),
                use_linear_projection: self.use_linear_projection,
            })
        };
        let base = BlockConfig {
            in_channels: 0,
            out_channels: 0,
            prev_output_channels: 0,
            temb_channels: time_embed_dim,
            num_layers: 0,
            groups,
            eps: self.norm_eps,
            output_scale_factor: 1.0,
            time_scale_shift,
            attn: AttnSpec::None,
            resample: false,
            downsample_padding: self.downsample_padding,
        };
        let mut down = Vec::with_capacity(n);
        for (i, ty) in self.down_block_types.iter().enumerate() {
            let attn = match ty.as_str() {
                "DownBlock2D" => AttnSpec::None,
                "CrossAttnDownBlock2D" => transformer(i, boc[i])?,
                other => return Err(unsupported("down_block_types", other, &COND_DOWN_BLOCKS)),
            };
            down.push(BlockConfig {
                in_channels: if i == 0 { boc[0] } else { boc[i - 1] },
                out_channels: boc[i],
                num_layers: self.layers_per_block.get(i),
                attn,
                resample: i + 1 < n,
                ..base
            });
        }
        let mid = match self.mid_block_type.as_deref() {
            None => None,
            Some("UNetMidBlock2DCrossAttn") => Some(BlockConfig {
                in_channels: boc[n - 1],
                out_channels: boc[n - 1],
                num_layers: 1,
                output_scale_factor: self.mid_block_scale_factor,
                attn: transformer(n - 1, boc[n - 1])?,
                ..base
            }),
            Some(other) => return Err(unsupported("mid_block_type", other, &COND_MID_BLOCKS)),
        };
        let mut up = Vec::with_capacity(n);
        let mut out_c = boc[n - 1];
        for (i, ty) in self.up_block_types.iter().enumerate() {
            let r = n - 1 - i; // index of the mirrored down block
            let prev = out_c;
            out_c = boc[r];
            let in_c = boc[r.saturating_sub(1)];
            let attn = match ty.as_str() {
                "UpBlock2D" => AttnSpec::None,
                "CrossAttnUpBlock2D" => transformer(r, out_c)?,
                other => return Err(unsupported("up_block_types", other, &COND_UP_BLOCKS)),
            };
            up.push(BlockConfig {
                in_channels: in_c,
                out_channels: out_c,
                prev_output_channels: prev,
                num_layers: self.layers_per_block.get(r) + 1,
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
            cross_attention_dim: self.cross_attention_dim.get(n - 1),
            class_embed_input_dim,
            center_input_sample: self.center_input_sample,
            time_proj: Timesteps {
                dim: boc[0],
                flip_sin_to_cos: self.flip_sin_to_cos,
                freq_shift: self.freq_shift,
            },
            time_embed_dim,
            down,
            mid,
            up,
            groups,
            eps: self.norm_eps,
            conv_in_kernel: self.conv_in_kernel,
            conv_out_kernel: self.conv_out_kernel,
        })
    }
}

/// The conditional UNet. Weight names follow the diffusers checkpoint: `conv_in`,
/// `time_embedding.linear_{1,2}`, `down_blocks.*`, `mid_block`, `up_blocks.*`, `conv_norm_out`,
/// `conv_out` (and `class_embedding.*` with `class_embed_type: "projection"`).
#[derive(Debug, Clone)]
pub struct UNet2DConditionModel {
    conv_in: Conv2d,
    time_proj: Timesteps,
    time_embedding: TimestepEmbedding,
    class_embedding: Option<TimestepEmbedding>,
    down_blocks: Vec<DownBlock>,
    mid_block: Option<MidBlock>,
    up_blocks: Vec<UpBlock>,
    conv_norm_out: GroupNorm,
    conv_out: Conv2d,
    config: Config,
}

impl UNet2DConditionModel {
    /// Builds the model from `vb` (a checkpoint, or a `VarMap` for training).
    pub fn new(cfg: &Config, vb: VarBuilder) -> CResult<Self> {
        let c0 = cfg.block_out_channels[0];
        let class_embedding = match cfg.class_embed_input_dim {
            Some(d) => Some(TimestepEmbedding::new(
                d,
                cfg.time_embed_dim,
                vb.pp("class_embedding"),
            )?),
            None => None,
        };
        let down_blocks = cfg
            .down
            .iter()
            .enumerate()
            .map(|(i, b)| DownBlock::new(b, vb.pp("down_blocks").pp(i)))
            .collect::<CResult<Vec<_>>>()?;
        let mid_block = match &cfg.mid {
            Some(m) => Some(MidBlock::new(m, vb.pp("mid_block"))?),
            None => None,
        };
        let up_blocks = cfg
            .up
            .iter()
            .enumerate()
            .map(|(i, b)| UpBlock::new(b, vb.pp("up_blocks").pp(i)))
            .collect::<CResult<Vec<_>>>()?;
        let (ki, ko) = (cfg.conv_in_kernel, cfg.conv_out_kernel);
        Ok(Self {
            conv_in: Conv2d::new(cfg.in_channels, c0, ki, 1, ki / 2, true, vb.pp("conv_in"))?,
            time_proj: cfg.time_proj,
            time_embedding: TimestepEmbedding::new(
                c0,
                cfg.time_embed_dim,
                vb.pp("time_embedding"),
            )?,
            class_embedding,
            down_blocks,
            mid_block,
            up_blocks,
            conv_norm_out: GroupNorm::new(cfg.groups, c0, cfg.eps, vb.pp("conv_norm_out"))?,
            conv_out: Conv2d::new(c0, cfg.out_channels, ko, 1, ko / 2, true, vb.pp("conv_out"))?,
            config: cfg.clone(),
        })
    }

    /// Loads `config.json` + `diffusion_pytorch_model.safetensors` from a diffusers folder.
    pub fn load(dir: &Path, dtype: DType, device: &Device) -> Result<Self> {
        let raw: UNet2DConditionModelConfig = read_model_config(dir)?;
        let cfg = raw.into_config()?;
        let vb = model_weights(dir, dtype, device)?;
        Ok(Self::new(&cfg, vb)?)
    }

    /// The runtime configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Predicts the noise (or v) for `sample` [B, C, H, W] at `timestep` [B] (or [1], broadcast)
    /// given `encoder_hidden_states` [B, S, cross_attention_dim].
    pub fn forward(
        &self,
        sample: &Tensor,
        timestep: &Tensor,
        encoder_hidden_states: &Tensor,
    ) -> CResult<Tensor> {
        self.forward_with_class(sample, timestep, encoder_hidden_states, None)
    }

    /// [`Self::forward`] with the `class_labels` [B, projection_class_embeddings_input_dim] of a
    /// `class_embed_type: "projection"` model.
    pub fn forward_with_class(
        &self,
        sample: &Tensor,
        timestep: &Tensor,
        encoder_hidden_states: &Tensor,
        class_labels: Option<&Tensor>,
    ) -> CResult<Tensor> {
        let (b, _, h, w) = sample.dims4()?;
        let f = self.config.downsample_factor();
        if h % f != 0 || w % f != 0 {
            candle_core::bail!(
                "sample size {h}x{w} is not divisible by the UNet's downsampling factor {f}"
            );
        }
        let t = broadcast_timestep(timestep, b)?;
        let t_emb = self.time_proj.forward(&t)?.to_dtype(sample.dtype())?;
        let mut emb = self.time_embedding.forward(&t_emb)?;
        match (&self.class_embedding, class_labels) {
            (Some(ce), Some(labels)) => {
                emb = (emb + ce.forward(&labels.to_dtype(sample.dtype())?)?)?
            }
            (Some(_), None) => {
                candle_core::bail!("this UNet has a class embedding: class_labels are required")
            }
            (None, _) => {}
        }
        let x = if self.config.center_input_sample {
            ((sample * 2.0)? - 1.0)?
        } else {
            sample.clone()
        };
        let ctx = Some(encoder_hidden_states);
        let mut h = self.conv_in.forward(&x)?;
        let mut skips = vec![h.clone()];
        for block in &self.down_blocks {
            let (out, s) = block.forward(&h, &emb, ctx)?;
            h = out;
            skips.extend(s);
        }
        if let Some(m) = &self.mid_block {
            h = m.forward(&h, &emb, ctx)?;
        }
        for block in &self.up_blocks {
            h = block.forward(&h, &mut skips, &emb, ctx)?;
        }
        self.conv_out.forward(&self.conv_norm_out.forward_silu(&h)?)
    }
}

/// `timestep` [B] or [1] (or a scalar) -> [B] f32.
pub(crate) fn broadcast_timestep(timestep: &Tensor, b: usize) -> CResult<Tensor> {
    let t = timestep.to_dtype(DType::F32)?.flatten_all()?;
    match t.dim(0)? {
        n if n == b => Ok(t),
        1 => t.broadcast_as(b)?.contiguous(),
        n => candle_core::bail!("timestep has {n} values for a batch of {b}"),
    }
}
