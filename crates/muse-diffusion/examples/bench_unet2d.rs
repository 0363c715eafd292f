//! UNet2DModel at the google/ddpm-cifar10-32 configuration with random weights: one forward at
//! batch 1 and batch 8, and one 50-step DDIM image. Prints one JSON line (ms).
//!
//!     cargo run --release -p muse-diffusion --example bench_unet2d

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use muse_diffusion::schedulers::{
    NoiseSource, Scheduler, SchedulerConfig, SeededNoise, ddim::DdimScheduler,
};
use muse_diffusion::{UNet2DModel, UNet2DModelConfig};

const CIFAR10: &str = r#"{
  "_class_name": "UNet2DModel", "act_fn": "silu", "attention_head_dim": null,
  "block_out_channels": [128, 256, 256, 256], "center_input_sample": false,
  "down_block_types": ["DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"],
  "downsample_padding": 0, "flip_sin_to_cos": false, "freq_shift": 1, "in_channels": 3,
  "layers_per_block": 2, "mid_block_scale_factor": 1, "norm_eps": 1e-06, "norm_num_groups": 32,
  "out_channels": 3, "sample_size": 32, "time_embedding_type": "positional",
  "up_block_types": ["UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D"]
}"#;

fn best_ms(
    reps: usize,
    mut f: impl FnMut() -> candle_core::Result<()>,
) -> candle_core::Result<f64> {
    f()?; // warm-up
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let t = Instant::now();
        f()?;
        best = best.min(t.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(best)
}

fn main() -> anyhow::Result<()> {
    let dev = Device::Cpu;
    let cfg: UNet2DModelConfig = serde_json::from_str(CIFAR10)?;
    let cfg = cfg.into_config()?;
    // Random weights are drawn as `Var`s; the model is then rebuilt on detached copies, as a
    // checkpoint loaded from safetensors would be. Built on the `Var`s themselves, every op
    // records its inputs for backprop: a forward keeps all its intermediates alive, and a
    // sampling loop chains each step's graph onto the previous one (1.1M page faults in 50
    // steps, against 60K for 50 separate forwards — the "slow loop" of earlier runs).
    let varmap = VarMap::new();
    UNet2DModel::new(&cfg, VarBuilder::from_varmap(&varmap, DType::F32, &dev))?;
    let weights: std::collections::HashMap<String, Tensor> = varmap
        .data()
        .lock()
        .map_err(|_| anyhow::anyhow!("var map lock poisoned"))?
        .iter()
        .map(|(name, var)| (name.clone(), var.as_tensor().detach()))
        .collect();
    let params: usize = weights.values().map(Tensor::elem_count).sum();
    let unet = UNet2DModel::new(&cfg, VarBuilder::from_tensors(weights, DType::F32, &dev))?;
    let t = Tensor::new(&[500f32], &dev)?;
    let x1 = Tensor::randn(0f32, 1.0, (1, 3, 32, 32), &dev)?;
    let x8 = Tensor::randn(0f32, 1.0, (8, 3, 32, 32), &dev)?;
    // `bench_unet2d loop|forwards|b8`: only the 50-step loop, only 50 back-to-back forwards, or
    // only 10 at batch 8, for
    // profiling one of them with perf.
    if let Some(mode) = std::env::args().nth(1) {
        return profile_one(&unet, &x1, &mode);
    }
    let b1 = best_ms(5, || unet.forward(&x1, &t).map(|_| ()))?;
    // Back-to-back forwards on Gaussian noise, and each on the previous output mixed in (what a
    // sampling loop feeds a random-weight UNet): whether the cost depends on the data, not only on
    // the shapes (docs/benchmarks.md: so far inconclusive).
    let (mut on_noise, mut chained) = (Vec::new(), Vec::new());
    let mut xc = x1.clone();
    for _ in 0..10 {
        let t0 = Instant::now();
        unet.forward(&x1, &t)?;
        on_noise.push(t0.elapsed().as_secs_f64() * 1000.0);
        let t0 = Instant::now();
        let eps = unet.forward(&xc, &t)?;
        chained.push(t0.elapsed().as_secs_f64() * 1000.0);
        xc = ((&xc * 0.9)? + (&eps * 0.1)?)?;
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    let (noise_median, chained_median) = (median(&mut on_noise), median(&mut chained));
    let b8 = best_ms(3, || unet.forward(&x8, &t).map(|_| ()))?;
    let mut sched = DdimScheduler::new(&SchedulerConfig::default(), 0.0)?;
    sched.set_timesteps(50)?;
    let mut noise = SeededNoise::new(0, dev.clone());
    let start = Instant::now();
    let mut x = noise.randn(&[1, 3, 32, 32])?;
    // Where the loop's time goes: the UNet, the scheduler, and the spread of the UNet's times.
    let (mut unet_ms, mut step_ms) = (Vec::new(), 0.0);
    for ts in sched.timesteps().to_vec() {
        let t0 = Instant::now();
        let eps = unet.forward(&x, &Tensor::new(&[ts as f32], &dev)?)?;
        unet_ms.push(t0.elapsed().as_secs_f64() * 1000.0);
        let t1 = Instant::now();
        x = sched.step(&eps, ts, &x, &mut noise)?;
        step_ms += t1.elapsed().as_secs_f64() * 1000.0;
    }
    let ddim50 = start.elapsed().as_secs_f64() * 1000.0;
    unet_ms.sort_by(f64::total_cmp);
    // The same forward on the loop's last sample: is the slowdown in the data?
    let t_last = Tensor::new(&[20f32], &dev)?;
    let on_last = best_ms(3, || unet.forward(&x, &t_last).map(|_| ()))?;
    let on_randn_t20 = best_ms(3, || unet.forward(&x1, &t_last).map(|_| ()))?;
    let median = unet_ms.get(unet_ms.len() / 2).copied().unwrap_or(0.0);
    let line = serde_json::json!({
        "impl": "muse", "params": params, "forward_b1_ms": b1, "forward_b8_ms": b8,
        "forward_b8_ms_per_image": b8 / 8.0, "ddim50_ms": ddim50,
        "ddim50_unet_ms": unet_ms.iter().sum::<f64>(), "ddim50_unet_median_ms": median,
        "forward_b1_on_last_sample_ms": on_last, "forward_b1_t20_ms": on_randn_t20,
        "forward_b1_noise_median_ms": noise_median, "forward_b1_chained_median_ms": chained_median,
        "ddim50_unet_max_ms": unet_ms.last().copied().unwrap_or(0.0), "ddim50_scheduler_ms": step_ms,
        "threads": std::env::var("RAYON_NUM_THREADS").ok(),
    });
    eprintln!("{line}");
    Ok(())
}

fn profile_one(unet: &UNet2DModel, x1: &Tensor, mode: &str) -> anyhow::Result<()> {
    let dev = Device::Cpu;
    let start = Instant::now();
    match mode {
        "loop" => {
            let mut sched = DdimScheduler::new(&SchedulerConfig::default(), 0.0)?;
            sched.set_timesteps(50)?;
            let mut noise = SeededNoise::new(0, dev.clone());
            let mut x = noise.randn(&[1, 3, 32, 32])?;
            for ts in sched.timesteps().to_vec() {
                let eps = unet.forward(&x, &Tensor::new(&[ts as f32], &dev)?)?;
                x = sched.step(&eps, ts, &x, &mut noise)?;
            }
        }
        "forwards" => {
            let t = Tensor::new(&[500f32], &dev)?;
            for _ in 0..50 {
                unet.forward(x1, &t)?;
            }
        }
        "b8" => {
            let t = Tensor::new(&[500f32], &dev)?;
            let x8 = Tensor::randn(0f32, 1.0, (8, 3, 32, 32), &dev)?;
            for _ in 0..10 {
                unet.forward(&x8, &t)?;
            }
        }
        other => anyhow::bail!("unknown mode {other:?} (loop, forwards or b8)"),
    }
    eprintln!("{mode}: {:.0} ms", start.elapsed().as_secs_f64() * 1000.0);
    Ok(())
}
