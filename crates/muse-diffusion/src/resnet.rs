//! `ResnetBlock2D`, `Downsample2D` and `Upsample2D` as in diffusers 0.42.1
//! (src/diffusers/models/resnet.py, downsampling.py, upsampling.py); the residual block of
//! DDPM (Ho et al. 2020), after Wide ResNets.

use candle_core::{Result, Tensor};
use candle_nn::{Linear, Module, VarBuilder};

use crate::nn::{Conv2d, GroupNorm, linear, silu};

/// How the time embedding enters a [`ResnetBlock2D`] (`resnet_time_scale_shift`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeScaleShift {
    /// `h + proj(temb)` before `norm2`.
    Default,
    /// `norm2(h) * (1 + scale) + shift`.
    ScaleShift,
}

/// Shape of one residual block.
#[derive(Debug, Clone, Copy)]
pub struct ResnetConfig {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Width of the time embedding (`None`: no `time_emb_proj`).
    pub temb_channels: Option<usize>,
    /// Groups of both group norms.
    pub groups: usize,
    /// Epsilon of both group norms.
    pub eps: f64,
    /// The output is divided by this.
    pub output_scale_factor: f64,
    /// How the time embedding is applied.
    pub time_scale_shift: TimeScaleShift,
}

/// Two 3x3 convolutions with group norm and SiLU, the time embedding added in between, and a 1x1
/// `conv_shortcut` when the channel count changes.
#[derive(Debug, Clone)]
pub struct ResnetBlock2D {
    norm1: GroupNorm,
    conv1: Conv2d,
    time_emb_proj: Option<Linear>,
    norm2: GroupNorm,
    conv2: Conv2d,
    conv_shortcut: Option<Conv2d>,
    output_scale_factor: f64,
    time_scale_shift: TimeScaleShift,
}

impl ResnetBlock2D {
    /// Loads the block's weights from `vb`.
    pub fn new(cfg: &ResnetConfig, vb: VarBuilder) -> Result<Self> {
        let (i, o) = (cfg.in_channels, cfg.out_channels);
        let temb_out = match cfg.time_scale_shift {
            TimeScaleShift::Default => o,
            TimeScaleShift::ScaleShift => 2 * o,
        };
        let time_emb_proj = match cfg.temb_channels {
            Some(t) => Some(linear(t, temb_out, true, vb.pp("time_emb_proj"))?),
            None => None,
        };
        let conv_shortcut = if i != o {
            Some(Conv2d::new(i, o, 1, 1, 0, true, vb.pp("conv_shortcut"))?)
        } else {
            None
        };
        Ok(Self {
            norm1: GroupNorm::new(cfg.groups, i, cfg.eps, vb.pp("norm1"))?,
            conv1: Conv2d::new(i, o, 3, 1, 1, true, vb.pp("conv1"))?,
            time_emb_proj,
            norm2: GroupNorm::new(cfg.groups, o, cfg.eps, vb.pp("norm2"))?,
            conv2: Conv2d::new(o, o, 3, 1, 1, true, vb.pp("conv2"))?,
            conv_shortcut,
            output_scale_factor: cfg.output_scale_factor,
            time_scale_shift: cfg.time_scale_shift,
        })
    }

    /// `x` [B, in, H, W], `temb` [B, temb_channels] -> [B, out, H, W].
    pub fn forward(&self, x: &Tensor, temb: Option<&Tensor>) -> Result<Tensor> {
        let h = self.conv1.forward(&self.norm1.forward_silu(x)?)?;
        let t = match (&self.time_emb_proj, temb) {
            (Some(p), Some(t)) => Some(p.forward(&silu(t)?)?.unsqueeze(2)?.unsqueeze(3)?),
            _ => None,
        };
        let h = match (self.time_scale_shift, t) {
            (TimeScaleShift::Default, Some(t)) => self.norm2.forward_silu(&h.broadcast_add(&t)?)?,
            (TimeScaleShift::ScaleShift, Some(t)) => {
                let chunks = t.chunk(2, 1)?;
                let (scale, shift) = (&chunks[0], &chunks[1]);
                silu(
                    &self
                        .norm2
                        .forward(&h)?
                        .broadcast_mul(&(scale + 1.0)?)?
                        .broadcast_add(shift)?,
                )?
            }
            (_, None) => self.norm2.forward_silu(&h)?,
        };
        // Dropout is the identity at inference; training here does not use it.
        let h = self.conv2.forward(&h)?;
        let skip = match &self.conv_shortcut {
            Some(c) => c.forward(x)?,
            None => x.clone(),
        };
        let y = (skip + h)?;
        if self.output_scale_factor == 1.0 {
            Ok(y)
        } else {
            y / self.output_scale_factor
        }
    }
}

/// Stride-2 3x3 convolution (`downsamplers.0.conv`). With `padding == 0` diffusers pads one zero
/// row/column at the bottom/right only (the original DDPM's asymmetric padding).
#[derive(Debug, Clone)]
pub struct Downsample2D {
    conv: Conv2d,
    asymmetric_pad: bool,
}

impl Downsample2D {
    /// Loads `conv` from `vb` (the caller passes `…downsamplers.0`).
    pub fn new(channels: usize, padding: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            conv: Conv2d::new(channels, channels, 3, 2, padding, true, vb.pp("conv"))?,
            asymmetric_pad: padding == 0,
        })
    }

    /// `x` [B, C, H, W] -> [B, C, H/2, W/2].
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if self.asymmetric_pad {
            let x = x.pad_with_zeros(2, 0, 1)?.pad_with_zeros(3, 0, 1)?;
            self.conv.forward(&x)
        } else {
            self.conv.forward(x)
        }
    }
}

/// Nearest-neighbour 2x upsampling followed by a 3x3 convolution (`upsamplers.0.conv`).
#[derive(Debug, Clone)]
pub struct Upsample2D {
    conv: Conv2d,
}

impl Upsample2D {
    /// Loads `conv` from `vb` (the caller passes `…upsamplers.0`).
    pub fn new(channels: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            conv: Conv2d::new(channels, channels, 3, 1, 1, true, vb.pp("conv"))?,
        })
    }

    /// `x` [B, C, H, W] -> [B, C, 2H, 2W].
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (_, _, h, w) = x.dims4()?;
        self.conv.forward(&x.upsample_nearest2d(2 * h, 2 * w)?)
    }
}
