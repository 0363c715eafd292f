//! The Stable Diffusion path against diffusers 0.42.1 / transformers 5.24 on a tiny random
//! pipeline folder (scripts/fixtures/diffusion_sd_tiny.py): CLIP tokenizer ids, CLIP text
//! encoder, VAE decoder, and a 10-step DDIM run with guidance and a negative prompt.

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use muse_diffusion::clip::ClipConditioner;
use muse_diffusion::pipeline::{GenerateRequest, ImagePipeline, LatentDecoder, TextConditioner};
use muse_diffusion::schedulers::SchedulerKind;
use muse_diffusion::vae::AutoencoderKL;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sd_tiny")
}

fn npy(file: &str) -> anyhow::Result<Tensor> {
    Ok(Tensor::read_npy(dir().join(file))?)
}

fn max_diff(a: &Tensor, b: &Tensor) -> anyhow::Result<f32> {
    Ok((a - b)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()?)
}

#[derive(serde::Deserialize)]
struct Tokens {
    texts: Vec<String>,
    ids: Vec<Vec<u32>>,
}

#[test]
fn clip_tokens_and_hidden_states_match_transformers() -> anyhow::Result<()> {
    let clip = ClipConditioner::load(&dir(), &Device::Cpu)?;
    let tokens: Tokens =
        serde_json::from_str(&std::fs::read_to_string(dir().join("tokens.json"))?)?;
    for (i, (text, ids)) in tokens.texts.iter().zip(&tokens.ids).enumerate() {
        assert_eq!(&clip.token_ids(text)?, ids, "{text:?}");
        let h = clip.encode(std::slice::from_ref(text))?;
        let d = max_diff(&h, &npy(&format!("text_{i}.npy"))?)?;
        eprintln!("CLIP {text:?}: max |diff| {d:.2e}");
        assert!(d <= 1e-4, "{text:?}: {d}");
    }
    Ok(())
}

#[test]
fn vae_decoder_matches_diffusers() -> anyhow::Result<()> {
    let vae = AutoencoderKL::load(&dir().join("vae"), &Device::Cpu)?;
    assert_eq!(vae.scale_factor(), 2);
    let d = max_diff(
        &vae.decode_scaled(&npy("vae_z.npy")?)?,
        &npy("vae_out.npy")?,
    )?;
    eprintln!("VAE decode: max |diff| {d:.2e}");
    assert!(d <= 1e-4, "{d}");
    Ok(())
}

#[test]
fn ten_step_ddim_with_guidance_matches_diffusers() -> anyhow::Result<()> {
    let pipe = ImagePipeline::load(&dir(), &Device::Cpu)?;
    let req = GenerateRequest {
        prompt: "a painting of the sea and the sun".into(),
        negative_prompt: Some("blurry".into()),
        scheduler: Some(SchedulerKind::Ddim),
        steps: 10,
        guidance: 7.5,
        latents: Some(npy("ddim_xT.npy")?),
        ..Default::default()
    };
    let out = pipe.generate(&req, &mut |_, _| {})?;
    let want: Vec<u8> = npy("ddim_image.npy")?.flatten_all()?.to_vec1()?;
    let got = &out.images[0].pixels;
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
        "SD DDIM 10 steps: {:.3}% of pixels within 2/255, max diff {max}",
        100.0 * frac
    );
    assert!(frac >= 0.99, "{frac}");
    Ok(())
}
