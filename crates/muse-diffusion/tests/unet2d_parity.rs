//! UNet2DModel (DDPM layout) against diffusers 0.42.1 on tiny random models, and a 10-step DDIM
//! run through the pipeline from the same x_T (scripts/fixtures/diffusion_unet2d_tiny.py).

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use muse_diffusion::UNet2DModel;
use muse_diffusion::pipeline::{GenerateRequest, ImagePipeline};
use muse_diffusion::schedulers::SchedulerKind;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn npy(dir: &Path, file: &str) -> anyhow::Result<Tensor> {
    Ok(Tensor::read_npy(dir.join(file))?)
}

fn check(model_dir: &Path, data_dir: &Path, cases: &[&str]) -> anyhow::Result<()> {
    let unet = UNet2DModel::load(model_dir, DType::F32, &Device::Cpu)?;
    for case in cases {
        let x = npy(data_dir, &format!("{case}_sample.npy"))?;
        let t = npy(data_dir, &format!("{case}_timestep.npy"))?;
        let want = npy(data_dir, &format!("{case}_out.npy"))?;
        let got = unet.forward(&x, &t)?;
        let d = (got - want)?
            .abs()?
            .flatten_all()?
            .max(0)?
            .to_scalar::<f32>()?;
        eprintln!("{}/{case}: max |diff| = {d:.3e}", data_dir.display());
        assert!(d <= 1e-4, "{case}: {d}");
    }
    Ok(())
}

#[test]
fn cifar_layout_matches_diffusers() -> anyhow::Result<()> {
    let d = fixture("ddpm_tiny_cifar");
    check(&d.join("unet"), &d, &["fwd_b2", "fwd_rect"])
}

#[test]
fn church_layout_matches_diffusers() -> anyhow::Result<()> {
    let d = fixture("ddpm_tiny_church");
    check(&d, &d, &["fwd_b1"])
}

#[test]
fn ten_step_ddim_image_matches_diffusers() -> anyhow::Result<()> {
    let d = fixture("ddpm_tiny_cifar");
    let pipe = ImagePipeline::load(&d, &Device::Cpu)?;
    let req = GenerateRequest {
        scheduler: Some(SchedulerKind::Ddim),
        steps: 10,
        n: 2,
        latents: Some(npy(&d, "ddim_xT.npy")?),
        ..Default::default()
    };
    let out = pipe.generate(&req, &mut |_, _| {})?;
    let want: Vec<u8> = npy(&d, "ddim_image.npy")?.flatten_all()?.to_vec1()?;
    let got: Vec<u8> = out.images.iter().flat_map(|i| i.pixels.clone()).collect();
    assert_eq!(got.len(), want.len());
    let close = got
        .iter()
        .zip(&want)
        .filter(|(a, b)| a.abs_diff(**b) <= 2)
        .count();
    let frac = close as f64 / got.len() as f64;
    let max = got
        .iter()
        .zip(&want)
        .map(|(a, b)| a.abs_diff(*b))
        .max()
        .unwrap_or(0);
    eprintln!(
        "DDIM 10 steps: {:.4}% of pixels within 2/255, max diff {max}",
        100.0 * frac
    );
    assert!(frac >= 0.99, "{frac}");
    Ok(())
}

#[test]
fn bad_inputs_are_clear_errors() -> anyhow::Result<()> {
    let d = fixture("ddpm_tiny_cifar");
    let pipe = ImagePipeline::load(&d, &Device::Cpu)?;
    let err = |req: GenerateRequest| {
        pipe.generate(&req, &mut |_, _| {})
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    let e = err(GenerateRequest {
        steps: 0,
        ..Default::default()
    });
    assert!(
        e.contains("steps must be between 1 and num_train_timesteps (1000), got 0"),
        "{e}"
    );
    let e = err(GenerateRequest {
        steps: 1001,
        ..Default::default()
    });
    assert!(e.contains("got 1001"), "{e}");
    let e = err(GenerateRequest {
        steps: 2,
        size: Some((12, 16)),
        ..Default::default()
    });
    assert!(
        e.contains("size 16x12 must be a positive multiple of 8"),
        "{e}"
    );
    let e = err(GenerateRequest {
        steps: 2,
        latents: Some(Tensor::zeros((1, 3, 8, 8), DType::F32, &Device::Cpu)?),
        ..Default::default()
    });
    assert!(
        e.contains("latents have shape [1, 3, 8, 8], expected [1, 3, 16, 16]"),
        "{e}"
    );
    let e = ImagePipeline::load(&d.join("nope"), &Device::Cpu)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("missing model folder"), "{e}");
    Ok(())
}
