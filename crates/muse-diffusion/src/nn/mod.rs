//! Layers shared by the models: the one convolution, normalisation, linear helpers, attention.

pub mod attention;
pub mod conv;
pub mod norm;

pub use attention::Attention;
pub use conv::Conv2d;
pub use norm::{GroupNorm, LayerNorm};

use candle_core::{Result, Tensor};
use candle_nn::{Linear, Module, VarBuilder};

/// `nn.Linear(in, out, bias)`.
pub fn linear(in_dim: usize, out_dim: usize, bias: bool, vb: VarBuilder) -> Result<Linear> {
    if bias {
        candle_nn::linear(in_dim, out_dim, vb)
    } else {
        candle_nn::linear_no_bias(in_dim, out_dim, vb)
    }
}

/// Applies a linear layer to `x` of any rank (the last dimension is the feature dimension).
pub fn apply_linear(l: &Linear, x: &Tensor) -> Result<Tensor> {
    l.forward(x)
}

/// `torch.nn.functional.silu`.
pub fn silu(x: &Tensor) -> Result<Tensor> {
    candle_nn::ops::silu(x)
}
