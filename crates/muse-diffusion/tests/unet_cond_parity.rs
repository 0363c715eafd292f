//! UNet2DConditionModel against diffusers 0.42.1 on tiny random models
//! (scripts/fixtures/diffusion_unet_cond_tiny.py), and one training step through candle autograd.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::{Optimizer, VarBuilder, VarMap};
use muse_diffusion::{UNet2DConditionModel, UNet2DConditionModelConfig};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn npy(dir: &Path, file: &str) -> Tensor {
    match Tensor::read_npy(dir.join(file)) {
        Ok(t) => t,
        Err(e) => panic!("{file}: {e}"),
    }
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    let d = (a - b).and_then(|d| d.abs()).and_then(|d| d.flatten_all());
    d.and_then(|d| d.max(0))
        .and_then(|m| m.to_scalar::<f32>())
        .unwrap_or(f32::INFINITY)
}

fn check(name: &str, cases: &[&str]) {
    let dir = fixture(name);
    let unet = match UNet2DConditionModel::load(&dir, DType::F32, &Device::Cpu) {
        Ok(u) => u,
        Err(e) => panic!("{name}: {e}"),
    };
    for case in cases {
        let sample = npy(&dir, &format!("{case}_sample.npy"));
        let t = npy(&dir, &format!("{case}_timestep.npy"));
        let ehs = npy(&dir, &format!("{case}_ehs.npy"));
        let expected = npy(&dir, &format!("{case}_out.npy"));
        let out = match unet.forward(&sample, &t, &ehs) {
            Ok(o) => o,
            Err(e) => panic!("{name}/{case}: {e}"),
        };
        let d = max_abs_diff(&out, &expected);
        eprintln!("{name}/{case}: max |diff| = {d:.3e}");
        assert!(d <= 1e-4, "{name}/{case}: max |diff| {d} > 1e-4");
    }
}

#[test]
fn mnist_like_unet_matches_diffusers() {
    check("unet_cond_tiny_mnist", &["seq1", "seq77"]);
}

#[test]
fn sd_like_unet_matches_diffusers() {
    check("unet_cond_tiny_sd", &["seq7", "rect"]);
}

#[test]
fn one_adamw_step_on_a_varmap_model_reduces_the_loss() -> anyhow::Result<()> {
    let dev = Device::Cpu;
    let raw: UNet2DConditionModelConfig = serde_json::from_str(&std::fs::read_to_string(
        fixture("unet_cond_tiny_mnist").join("config.json"),
    )?)?;
    let cfg = raw.into_config()?;
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
    let unet = UNet2DConditionModel::new(&cfg, vb)?;
    assert!(!varmap.all_vars().is_empty());

    let x = Tensor::randn(0f32, 1.0, (4, 1, 28, 28), &dev)?;
    let target = Tensor::randn(0f32, 1.0, (4, 1, 28, 28), &dev)?;
    // A different timestep per batch item, as training uses.
    let t = Tensor::new(&[3f32, 250.0, 600.0, 999.0], &dev)?;
    let ctx = Tensor::randn(0f32, 1.0, (4, 1, 384), &dev)?;
    let loss_of = |unet: &UNet2DConditionModel| -> candle_core::Result<Tensor> {
        let pred = unet.forward(&x, &t, &ctx)?;
        (pred - &target)?.sqr()?.mean_all()
    };
    let params = candle_nn::ParamsAdamW {
        lr: 1e-3,
        ..Default::default()
    };
    let mut opt = candle_nn::AdamW::new(varmap.all_vars(), params)?;
    let before = loss_of(&unet)?;
    let grads = before.backward()?;
    // Every variable must receive a gradient: a missing backward would silently freeze weights.
    let without: Vec<_> = varmap
        .data()
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .iter()
        .filter(|(_, v)| grads.get(v.as_tensor()).is_none())
        .map(|(k, _)| k.clone())
        .collect();
    assert!(without.is_empty(), "no gradient for {without:?}");
    opt.step(&grads)?;
    let l0 = before.to_scalar::<f32>()?;
    let l1 = loss_of(&unet)?.to_scalar::<f32>()?;
    eprintln!("loss {l0} -> {l1}");
    assert!(l1 < l0, "loss did not decrease: {l0} -> {l1}");
    Ok(())
}
