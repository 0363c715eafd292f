//! Normalisation layers composed of differentiable tensor ops (candle's fused `layer_norm` kernel
//! has no backward pass; the UNets here must train).

use candle_core::{D, Result, Tensor};
use candle_nn::{Module, VarBuilder};

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

/// `nn.GroupNorm` (candle-nn's, which is composed of tensor ops and so backpropagates).
#[derive(Debug, Clone)]
pub struct GroupNorm(candle_nn::GroupNorm);

impl GroupNorm {
    /// Loads `weight` and `bias` of size `channels`; `groups` must divide `channels`.
    pub fn new(groups: usize, channels: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        Ok(Self(candle_nn::group_norm(groups, channels, eps, vb)?))
    }

    /// Normalises `x` [B, C, ...].
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.0.forward(x)
    }
}
