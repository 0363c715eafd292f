//! Time of one training step (forward, backward) of the text-to-image UNet at a few widths.
//!
//! `cargo run --release -p muse-train --example unet_step_bench -- 64 32,64,64 16,32,32`

#![allow(clippy::print_stdout, reason = "a benchmark prints its table")]

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use muse_diffusion::{UNet2DConditionModel, UNet2DConditionModelConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let batch: usize = args.first().and_then(|s| s.parse().ok()).unwrap_or(64);
    for spec in args.iter().skip(1) {
        let ch: Vec<usize> = spec.split(',').filter_map(|s| s.parse().ok()).collect();
        let channels = [ch[0], ch[1], ch[2]];
        let raw: UNet2DConditionModelConfig =
            serde_json::from_value(muse_train::diffusion::unet_config(channels, 28, 384))?;
        let cfg = raw.into_config()?;
        let varmap = VarMap::new();
        let model = UNet2DConditionModel::new(
            &cfg,
            VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu),
        )?;
        let params: usize = varmap.all_vars().iter().map(|v| v.elem_count()).sum();
        let x = Tensor::randn(0f32, 1.0, (batch, 1, 28, 28), &Device::Cpu)?;
        let t = Tensor::ones(batch, DType::F32, &Device::Cpu)?;
        let c = Tensor::randn(0f32, 1.0, (batch, 1, 384), &Device::Cpu)?;
        let mut fwd = 0.0;
        let mut bwd = 0.0;
        for rep in 0..3 {
            let t0 = Instant::now();
            let loss = model
                .forward_with_class(&x, &t, &c, Some(&c.squeeze(1)?))?
                .sqr()?
                .mean_all()?;
            let t1 = Instant::now();
            let _ = loss.backward()?;
            if rep > 0 {
                fwd += (t1 - t0).as_secs_f64() / 2.0;
                bwd += t1.elapsed().as_secs_f64() / 2.0;
            }
        }
        println!(
            "channels {spec}: {:.2}M params, batch {batch}: forward {:.0} ms, backward {:.0} ms, {:.1} img/s",
            params as f64 / 1e6,
            fwd * 1e3,
            bwd * 1e3,
            batch as f64 / (fwd + bwd)
        );
    }
    Ok(())
}
