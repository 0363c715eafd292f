//! The one 2-D convolution of muse-diffusion. Every convolution in every model goes through
//! [`Conv2d::forward`], which runs Muse's im2col + GEMM kernel, or Winograd F(2×2, 3×3) with the
//! layer's cached filter transforms where it applies ([`muse_models::conv_op`]): im2col is about
//! 3× candle's CPU convolution forward, and with a backward pass that is GEMM-based too (candle's
//! input gradient is a direct loop), which is what makes training a UNet on a CPU practical
//! (`cargo run --release -p muse-models --example conv_bench`).

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

/// A 2-D convolution, PyTorch `nn.Conv2d` layout: `weight` [out, in, k, k], `bias` [out].
#[derive(Debug, Clone)]
pub struct Conv2d {
    weight: Tensor,
    bias: Option<Tensor>,
    stride: usize,
    padding: usize,
    /// Winograd filter transforms of `weight`, filled on first use when it is not a `Var`.
    winograd: muse_models::conv_op::WinogradCache,
}

impl Conv2d {
    /// Loads `weight` (and `bias` when `bias` is true) from `vb`.
    pub fn new(
        in_c: usize,
        out_c: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        bias: bool,
        vb: VarBuilder,
    ) -> Result<Self> {
        // The init hints only matter for a `VarMap`-backed builder (training from scratch):
        // PyTorch's defaults, Kaiming for the weight and U(±1/sqrt(fan_in)) for the bias.
        let weight = vb.get_with_hints(
            (out_c, in_c, kernel, kernel),
            "weight",
            candle_nn::init::DEFAULT_KAIMING_NORMAL,
        )?;
        let bound = 1.0 / ((in_c * kernel * kernel) as f64).sqrt();
        let bias = if bias {
            let init = candle_nn::Init::Uniform {
                lo: -bound,
                up: bound,
            };
            Some(vb.get_with_hints(out_c, "bias", init)?)
        } else {
            None
        };
        Ok(Self {
            weight,
            bias,
            stride,
            padding,
            winograd: Default::default(),
        })
    }

    /// `x`: [B, in, H, W] -> [B, out, H', W'].
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        muse_models::conv_op::conv2d_bias(
            x,
            &self.weight,
            self.bias.as_ref(),
            self.stride,
            self.padding,
            Some(&self.winograd),
        )
    }
}
