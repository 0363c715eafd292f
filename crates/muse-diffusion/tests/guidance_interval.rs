//! Guidance limited to an interval of timesteps (`GenerateRequest::guidance_max_timestep`), on
//! the tiny random Stable Diffusion folder: a bound above every timestep is plain guidance, one
//! below every timestep is no guidance at all, one in between is neither; bad bounds are errors.

use std::path::Path;

use candle_core::{Device, Tensor};
use muse_diffusion::pipeline::{GenerateRequest, ImagePipeline};
use muse_diffusion::schedulers::SchedulerKind;

fn pixels(pipe: &ImagePipeline, guidance: f64, bound: Option<f64>) -> anyhow::Result<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sd_tiny");
    let req = GenerateRequest {
        prompt: "a painting of the sea and the sun".into(),
        scheduler: Some(SchedulerKind::Ddim),
        steps: 10,
        guidance,
        guidance_max_timestep: bound,
        latents: Some(Tensor::read_npy(dir.join("ddim_xT.npy"))?),
        ..Default::default()
    };
    Ok(pipe.generate(&req, &mut |_, _| {})?.images.remove(0).pixels)
}

fn max_diff(a: &[u8], b: &[u8]) -> u8 {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap_or(0)
}

#[test]
fn the_interval_bounds_where_guidance_applies() -> anyhow::Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sd_tiny");
    let pipe = ImagePipeline::load(&dir, &Device::Cpu)?;
    let guided = pixels(&pipe, 7.5, None)?;
    let unguided = pixels(&pipe, 1.0, None)?;
    assert!(
        max_diff(&guided, &unguided) > 10,
        "guidance must change the image"
    );

    // Above every timestep (≤ 1000): guidance at every step, as without a bound.
    assert_eq!(pixels(&pipe, 7.5, Some(5000.0))?, guided);
    // Below every timestep (DDIM's smallest here is 1): the conditional prediction alone. The
    // UNet then runs at batch 1 instead of 2, so allow one level of rounding.
    assert!(max_diff(&pixels(&pipe, 7.5, Some(0.0))?, &unguided) <= 1);
    // In between (timesteps 901, 801, …, 1): all but the noisiest step guided, unlike either.
    let half = pixels(&pipe, 7.5, Some(850.0))?;
    let (to_guided, to_unguided) = (max_diff(&half, &guided), max_diff(&half, &unguided));
    assert!(
        to_guided > 2 && to_unguided > 2,
        "{to_guided} {to_unguided}"
    );

    for bad in [f64::NAN, -1.0, f64::INFINITY] {
        let err = pixels(&pipe, 7.5, Some(bad)).unwrap_err().to_string();
        assert!(err.contains("guidance interval"), "{err}");
    }
    Ok(())
}
