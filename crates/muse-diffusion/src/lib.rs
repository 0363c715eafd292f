//! Muse's diffusion engine in the diffusers checkpoint format: noise schedulers behind one
//! [`schedulers::Scheduler`] trait, the unconditional [`UNet2DModel`] (DDPM), the text-conditioned
//! [`UNet2DConditionModel`] (Stable Diffusion), and the pipelines that run them.
//!
//! Every op in the UNets has a candle backward pass: built from a `VarMap`-backed `VarBuilder`
//! they train with candle autograd. Every 2-D convolution goes through [`nn::Conv2d`].

pub mod caption_prior;
pub mod clip;
pub mod embeddings;
pub mod error;
pub mod loading;
pub mod nn;
pub mod pipeline;
pub mod resnet;
pub mod schedulers;
pub mod sentence_conditioner;
pub mod transformer_2d;
pub mod unet_2d;
pub mod unet_2d_blocks;
pub mod unet_2d_condition;
pub mod vae;

pub use error::{DiffusionError, Result};
pub use unet_2d::{UNet2DModel, UNet2DModelConfig};
pub use unet_2d_condition::{UNet2DConditionModel, UNet2DConditionModelConfig};
