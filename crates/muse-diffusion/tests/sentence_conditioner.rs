//! The sentence-embedding conditioner of Muse's own text-to-image models, on the packaged
//! all-MiniLM-L6-v2 and the shipped model's caption prior.

use candle_core::Device;
use muse_diffusion::caption_prior::CaptionPrior;
use muse_diffusion::pipeline::TextConditioner;
use muse_diffusion::sentence_conditioner::SentenceConditioner;

fn rows(c: &SentenceConditioner, texts: &[&str]) -> anyhow::Result<Vec<Vec<f32>>> {
    let texts: Vec<String> = texts.iter().map(|t| t.to_string()).collect();
    let t = c.encode(&texts)?;
    assert_eq!(t.dims()[..2], [texts.len(), 1]);
    Ok(t.squeeze(1)?.to_vec2()?)
}

fn close(a: &[f32], b: &[f32]) -> bool {
    a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5)
}

/// Repeated prompts (one per image) get identical rows, the empty prompt is the zero vector,
/// and a batch gives each text what it gets alone (the de-duplication changes nothing visible).
#[test]
fn batches_match_single_prompts_and_the_empty_prompt_is_zero() -> anyhow::Result<()> {
    let Some(dir) = muse_test_utils::packaged(muse_test_utils::MINILM) else {
        return Ok(());
    };
    let dev = Device::Cpu;
    let c = SentenceConditioner::new(muse_models::SentenceEmbedder::load(&dir)?, &dev);
    assert!(!c.has_caption_prior());
    let batch = rows(&c, &["running shoe", "", "a pullover", "running shoe", " "])?;
    let shoe = rows(&c, &["running shoe"])?.remove(0);
    let pullover = rows(&c, &["a pullover"])?.remove(0);
    assert!(close(&batch[0], &shoe) && close(&batch[3], &shoe));
    assert!(close(&batch[2], &pullover));
    assert!(!close(&shoe, &pullover));
    for zero in [&batch[1], &batch[4]] {
        assert!(zero.iter().all(|&x| x == 0.0));
    }
    let norm = shoe.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4, "not unit length: {norm}");
    Ok(())
}

/// With the shipped model's prior, every prompt becomes exactly one training caption's
/// embedding, and `mapped_caption` names the caption it became.
#[test]
fn the_prior_maps_prompts_onto_training_captions() -> anyhow::Result<()> {
    let Some(dir) = muse_test_utils::packaged(muse_test_utils::MINILM) else {
        return Ok(());
    };
    let Some(model) = muse_test_utils::packaged("muse-t2i-fashion") else {
        return Ok(());
    };
    let dev = Device::Cpu;
    let prior = CaptionPrior::load_if_present(&model)?;
    let Some(prior) = prior else {
        anyhow::bail!("the shipped model has no text_prior/");
    };
    // The exact-row check below holds for a nearest-caption prior, which is what ships.
    assert_eq!(prior.config().top_k, 1);
    let captions = prior.config().captions.clone();
    let c = SentenceConditioner::new(muse_models::SentenceEmbedder::load(&dir)?, &dev)
        .with_prior(Some(prior))?;
    assert!(c.has_caption_prior());
    let mapped = c
        .mapped_caption("running shoe")?
        .ok_or_else(|| anyhow::anyhow!("no mapped caption"))?;
    let (caption, sim) = (mapped.caption, mapped.similarity);
    assert!(captions.contains(&caption));
    assert!(sim > 0.3 && sim <= 1.0 + 1e-5, "{sim}");
    // The prompt's row is the mapped caption's own (projected) embedding.
    let got = rows(&c, &["running shoe", ""])?;
    let want = rows(&c, &[caption.as_str()])?.remove(0);
    assert!(close(&got[0], &want), "row is not the caption's embedding");
    assert!(got[1].iter().all(|&x| x == 0.0));
    assert_eq!(c.mapped_caption("")?, None);
    Ok(())
}
