//! The decoder of `AutoencoderKL` (Rombach et al. 2022, the KL-regularised autoencoder of latent
//! diffusion) in diffusers' layout (diffusers 0.42.1,
//! src/diffusers/models/autoencoders/autoencoder_kl.py and vae.py `Decoder`).

use std::path::Path;

use candle_core::{DType, Device, Result as CResult, Tensor};
use candle_nn::VarBuilder;
use serde::Deserialize;

use crate::error::{DiffusionError, Result};
use crate::loading::load_model_folder;
use crate::nn::{Conv2d, GroupNorm};
use crate::pipeline::LatentDecoder;
use crate::resnet::{ResnetBlock2D, ResnetConfig, TimeScaleShift, Upsample2D};
use crate::unet_2d_blocks::SpatialAttention;

fn d_three() -> usize {
    3
}
fn d_four() -> usize {
    4
}
fn d_boc() -> Vec<usize> {
    vec![64]
}
fn d_one() -> usize {
    1
}
fn d_groups() -> usize {
    32
}
fn d_scaling() -> f64 {
    0.18215
}
fn d_true() -> bool {
    true
}
fn d_up() -> Vec<String> {
    vec!["UpDecoderBlock2D".into()]
}

/// `vae/config.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct AutoencoderKLConfig {
    /// Image channels.
    #[serde(default = "d_three")]
    pub out_channels: usize,
    /// Latent channels.
    #[serde(default = "d_four")]
    pub latent_channels: usize,
    /// Channels per level.
    #[serde(default = "d_boc")]
    pub block_out_channels: Vec<usize>,
    /// Only `UpDecoderBlock2D`.
    #[serde(default = "d_up")]
    pub up_block_types: Vec<String>,
    /// Resnets per encoder level (the decoder has one more).
    #[serde(default = "d_one")]
    pub layers_per_block: usize,
    /// Group-norm groups.
    #[serde(default = "d_groups")]
    pub norm_num_groups: usize,
    /// Latents are divided by this before decoding.
    #[serde(default = "d_scaling")]
    pub scaling_factor: f64,
    /// Whether `post_quant_conv` exists.
    #[serde(default = "d_true")]
    pub use_post_quant_conv: bool,
    /// Attention in the middle block.
    #[serde(default = "d_true")]
    pub mid_block_add_attention: bool,
}

/// The decoder half of an `AutoencoderKL`.
#[derive(Debug, Clone)]
pub struct AutoencoderKL {
    post_quant_conv: Option<Conv2d>,
    conv_in: Conv2d,
    mid_resnets: [ResnetBlock2D; 2],
    mid_attention: Option<SpatialAttention>,
    up_blocks: Vec<(Vec<ResnetBlock2D>, Option<Upsample2D>)>,
    conv_norm_out: GroupNorm,
    conv_out: Conv2d,
    scaling_factor: f64,
    scale: usize,
}

impl AutoencoderKL {
    /// Builds the decoder (`post_quant_conv`, `decoder.*`) from `vb`.
    pub fn new(cfg: &AutoencoderKLConfig, vb: VarBuilder) -> Result<Self> {
        if let Some(t) = cfg.up_block_types.iter().find(|t| *t != "UpDecoderBlock2D") {
            return Err(DiffusionError::Unsupported {
                what: "vae up_block_types",
                found: t.clone(),
                supported: vec!["UpDecoderBlock2D"],
            });
        }
        let boc = &cfg.block_out_channels;
        let n = boc.len();
        if n == 0 || n != cfg.up_block_types.len() {
            return Err(DiffusionError::config(
                "vae block_out_channels and up_block_types must have the same non-zero length",
            ));
        }
        let (g, lc) = (cfg.norm_num_groups, cfg.latent_channels);
        let d = vb.pp("decoder");
        let res = |i: usize, o: usize| ResnetConfig {
            in_channels: i,
            out_channels: o,
            temb_channels: None,
            groups: g,
            eps: 1e-6,
            output_scale_factor: 1.0,
            time_scale_shift: TimeScaleShift::Default,
        };
        let top = boc[n - 1];
        let mid = d.pp("mid_block");
        let mid_resnets = [
            ResnetBlock2D::new(&res(top, top), mid.pp("resnets.0"))?,
            ResnetBlock2D::new(&res(top, top), mid.pp("resnets.1"))?,
        ];
        let mid_attention = if cfg.mid_block_add_attention {
            Some(SpatialAttention::new(
                top,
                top,
                g,
                1e-6,
                1.0,
                mid.pp("attentions.0"),
            )?)
        } else {
            None
        };
        let mut up_blocks = Vec::with_capacity(n);
        let mut out_c = top;
        for i in 0..n {
            let prev = out_c;
            out_c = boc[n - 1 - i];
            let b = d.pp("up_blocks").pp(i);
            let resnets = (0..=cfg.layers_per_block)
                .map(|j| {
                    let in_c = if j == 0 { prev } else { out_c };
                    ResnetBlock2D::new(&res(in_c, out_c), b.pp("resnets").pp(j))
                })
                .collect::<CResult<Vec<_>>>()?;
            let up = if i + 1 < n {
                Some(Upsample2D::new(out_c, b.pp("upsamplers.0"))?)
            } else {
                None
            };
            up_blocks.push((resnets, up));
        }
        let post_quant_conv = if cfg.use_post_quant_conv {
            Some(Conv2d::new(
                lc,
                lc,
                1,
                1,
                0,
                true,
                vb.pp("post_quant_conv"),
            )?)
        } else {
            None
        };
        Ok(Self {
            post_quant_conv,
            conv_in: Conv2d::new(lc, top, 3, 1, 1, true, d.pp("conv_in"))?,
            mid_resnets,
            mid_attention,
            up_blocks,
            conv_norm_out: GroupNorm::new(g, boc[0], 1e-6, d.pp("conv_norm_out"))?,
            conv_out: Conv2d::new(boc[0], cfg.out_channels, 3, 1, 1, true, d.pp("conv_out"))?,
            scaling_factor: cfg.scaling_factor,
            scale: 1 << (n - 1),
        })
    }

    /// Loads `vae/` (`config.json` + `diffusion_pytorch_model.safetensors`).
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let (cfg, vb): (AutoencoderKLConfig, _) = load_model_folder(dir, DType::F32, device)?;
        Self::new(&cfg, vb)
    }

    /// Decodes latents already divided by `scaling_factor`: [B, C, h, w] -> [B, 3, H, W].
    pub fn decode_scaled(&self, z: &Tensor) -> CResult<Tensor> {
        let z = match &self.post_quant_conv {
            Some(c) => c.forward(z)?,
            None => z.clone(),
        };
        let mut h = self.conv_in.forward(&z)?;
        h = self.mid_resnets[0].forward(&h, None)?;
        if let Some(a) = &self.mid_attention {
            h = a.forward(&h)?;
        }
        h = self.mid_resnets[1].forward(&h, None)?;
        for (resnets, up) in &self.up_blocks {
            for r in resnets {
                h = r.forward(&h, None)?;
            }
            if let Some(u) = up {
                h = u.forward(&h)?;
            }
        }
        self.conv_out.forward(&self.conv_norm_out.forward_silu(&h)?)
    }
}

impl LatentDecoder for AutoencoderKL {
    fn decode(&self, latents: &Tensor) -> Result<Tensor> {
        Ok(self.decode_scaled(&(latents / self.scaling_factor)?)?)
    }
    fn scale_factor(&self) -> usize {
        self.scale
    }
}
