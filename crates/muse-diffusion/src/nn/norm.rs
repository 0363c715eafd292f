//! Normalisation layers composed of differentiable tensor ops (candle's fused `layer_norm` kernel
//! has no backward pass; the UNets here must train).

use candle_core::{D, Result, Tensor};
use candle_nn::VarBuilder;

/// `nn.LayerNorm` over the last dimension, with affine `weight` and `bias`.
#[derive(Debug, Clone)]
pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl LayerNorm {
    /// Loads `weight` and `bias` of size `dim`.
    pub fn new(dim: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            weight: vb.get_with_hints(dim, "weight", candle_nn::Init::Const(1.0))?,
            bias: vb.get_with_hints(dim, "bias", candle_nn::Init::Const(0.0))?,
            eps,
        })
    }

    /// Normalises `x` [..., dim].
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mean = x.mean_keepdim(D::Minus1)?;
        let xc = x.broadcast_sub(&mean)?;
        let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
        let xn = xc.broadcast_div(&(var + self.eps)?.sqrt()?)?;
        xn.broadcast_mul(&self.weight)?.broadcast_add(&self.bias)
    }
}

/// `nn.GroupNorm`, run by Muse's fused operation ([`muse_models::group_norm_op`]), which has a
/// hand-derived backward pass: candle-nn's composed GroupNorm spent more of a training step in
/// its backward reductions than the convolutions did.
#[derive(Debug, Clone)]
pub struct GroupNorm {
    weight: Tensor,
    bias: Tensor,
    groups: usize,
    eps: f64,
}

impl GroupNorm {
    /// Loads `weight` and `bias` of size `channels`; `groups` must divide `channels`.
    pub fn new(groups: usize, channels: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        if groups == 0 || !channels.is_multiple_of(groups) {
            candle_core::bail!(
                "GroupNorm: {channels} channels are not divisible into {groups} groups"
            );
        }
        Ok(Self {
            weight: vb.get_with_hints(channels, "weight", candle_nn::Init::Const(1.0))?,
            bias: vb.get_with_hints(channels, "bias", candle_nn::Init::Const(0.0))?,
            groups,
            eps,
        })
    }

    /// Normalises `x` [B, C, ...].
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        muse_models::group_norm_op::group_norm(x, &self.weight, &self.bias, self.groups, self.eps)
    }

    /// `silu(self.forward(x))` in one pass (the norm–activation pair of every residual block).
    pub fn forward_silu(&self, x: &Tensor) -> Result<Tensor> {
        muse_models::group_norm_op::group_norm_silu(
            x,
            &self.weight,
            &self.bias,
            self.groups,
            self.eps,
        )
    }
}
