//! `muse_train::diffusion::train` end to end on a tiny synthetic dataset (a folder of 8×8 PNGs,
//! two classes) with a stand-in embedder: it learns (the loss falls), checkpoints atomically,
//! resumes exactly where it stopped, exports a folder the image pipeline loads, and refuses bad
//! input with the errors the issue names.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::path::Path;

use muse_train::TrainError;
use muse_train::data::DataSource;
use muse_train::diffusion::{DiffusionTraining, latest_checkpoint, train};

/// Two classes: a bright square in the top-left or the bottom-right corner.
fn write_dataset(dir: &Path) {
    for (class, corner) in [("left", 0u32), ("right", 4u32)] {
        let d = dir.join(class);
        std::fs::create_dir_all(&d).unwrap();
        for k in 0..20u32 {
            let img = image::GrayImage::from_fn(8, 8, |x, y| {
                let inside = (corner..corner + 4).contains(&x) && (corner..corner + 4).contains(&y);
                image::Luma([if inside {
                    200 + (k % 5) as u8 * 10
                } else {
                    (k % 3) as u8 * 5
                }])
            });
            img.save(d.join(format!("{k}.png"))).unwrap();
        }
    }
}

/// A deterministic stand-in for the sentence embedder: "left"/"right" words set different axes.
fn embed(texts: &[&str]) -> Result<Vec<Vec<f32>>, TrainError> {
    Ok(texts
        .iter()
        .map(|t| {
            let mut v = vec![0.1f32; 16];
            v[0] += f32::from(u8::from(t.contains("left")));
            v[1] += f32::from(u8::from(t.contains("right")));
            v[2] += t.len() as f32 / 100.0;
            v
        })
        .collect())
}

fn opts(data: &Path, out: &Path, steps: usize) -> DiffusionTraining {
    DiffusionTraining {
        data: DataSource::Folder(data.to_path_buf()),
        steps,
        batch: 8,
        lr: 2e-3,
        warmup: 2,
        checkpoint_every: 5,
        channels: [8, 8, 8],
        out: out.to_path_buf(),
        ..Default::default()
    }
}

#[test]
fn trains_checkpoints_resumes_and_exports() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_dataset(&data);
    let out = tmp.path().join("model");
    let mut losses = Vec::new();
    let report = train(
        &opts(&data, &out, 10),
        tmp.path(),
        &embed,
        "stand-in",
        |s| losses.push(s.loss),
    )
    .unwrap();
    assert_eq!((report.steps, report.images_seen), (10, 80));
    assert_eq!(
        latest_checkpoint(&out).unwrap().file_name().unwrap(),
        "step-10"
    );
    for f in [
        "model_index.json",
        "unet/config.json",
        "unet/diffusion_pytorch_model.safetensors",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    assert!(out.join("scheduler/scheduler_config.json").is_file());
    assert!(out.join("loss_curve.png").is_file());

    // The caption prior holds every training caption with its class, and maps an unseen
    // phrasing onto a caption of the class it names.
    let prior = muse_diffusion::caption_prior::CaptionPrior::load_if_present(&out)
        .unwrap()
        .expect("text_prior/ exported");
    let cfg = prior.config();
    assert_eq!(cfg.captions.len(), 16, "8 templates × 2 classes");
    assert_eq!(cfg.caption_class.iter().filter(|&&c| c == 1).count(), 8);
    let unseen = &embed(&["something on the right side"]).unwrap()[0];
    let (i, _) = prior.nearest(unseen).unwrap();
    assert!(cfg.captions[i].contains("right"), "{}", cfg.captions[i]);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("model_index.json")).unwrap()).unwrap();
    assert_eq!(
        index["text_prior"],
        serde_json::json!(["muse", "CaptionPrior"])
    );

    // Resuming to 20 steps continues from step 10 and draws the batches an uninterrupted run
    // would: its steps 11..20 equal those of a fresh 20-step run from the same checkpoint.
    let mut resumed = Vec::new();
    let mut o = opts(&data, &out, 20);
    o.resume = true;
    let r = train(&o, tmp.path(), &embed, "stand-in", |s| resumed.push(s.step)).unwrap();
    assert_eq!(r.resumed_from, Some(10));
    assert_eq!(resumed, (11..=20).collect::<Vec<_>>());

    // It learns: the mean loss of the last steps is below that of the first ones.
    let out2 = tmp.path().join("model2");
    let mut curve = Vec::new();
    train(
        &opts(&data, &out2, 60),
        tmp.path(),
        &embed,
        "stand-in",
        |s| curve.push(s.loss),
    )
    .unwrap();
    let head: f32 = curve[..10].iter().sum::<f32>() / 10.0;
    let tail: f32 = curve[50..].iter().sum::<f32>() / 10.0;
    assert!(
        tail < head * 0.8,
        "loss did not fall: first {head}, last {tail}"
    );

    // The export loads in the image pipeline (with any conditioner of the right width).
    struct Fixed;
    impl muse_diffusion::pipeline::TextConditioner for Fixed {
        fn encode(&self, texts: &[String]) -> muse_diffusion::Result<candle_core::Tensor> {
            Ok(candle_core::Tensor::zeros(
                (texts.len(), 1, 16),
                candle_core::DType::F32,
                &candle_core::Device::Cpu,
            )?)
        }
    }
    let pipe = muse_diffusion::pipeline::ImagePipeline::load_with(
        &out,
        &candle_core::Device::Cpu,
        Some(Box::new(Fixed)),
    )
    .unwrap();
    let req = muse_diffusion::pipeline::GenerateRequest {
        prompt: "left".into(),
        steps: 3,
        guidance: 2.0,
        n: 2,
        ..Default::default()
    };
    let g = pipe.generate(&req, &mut |_, _| {}).unwrap();
    assert_eq!(g.images.len(), 2);
    assert_eq!((g.images[0].width, g.images[0].height), (8, 8));
}

#[test]
fn bad_input_is_refused_and_divergence_keeps_the_last_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_dataset(&data);
    let out = tmp.path().join("model");

    let mut o = opts(&data, &out, 5);
    o.batch = 0;
    let err = train(&o, tmp.path(), &embed, "x", |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("--batch"), "{err}");

    let err = train(
        &opts(&data, &out, 5).with_resume(),
        tmp.path(),
        &embed,
        "x",
        |_| {},
    )
    .unwrap_err();
    assert!(
        matches!(err, TrainError::IncompatibleCheckpoint { .. }),
        "{err}"
    );

    let err = DataSource::FashionMnist
        .load(&tmp.path().join("nowhere"), muse_train::data::Split::Train)
        .unwrap_err()
        .to_string();
    assert!(err.contains("setup.sh"), "{err}");

    // A learning rate of 1e30 blows the weights up after the first update: the second step's
    // loss is not finite. Training stops naming the step; the step-1 checkpoint survives.
    let mut o = opts(&data, &out, 5);
    o.lr = 1e30;
    o.warmup = 1;
    o.checkpoint_every = 1;
    let err = train(&o, tmp.path(), &embed, "x", |_| {}).unwrap_err();
    match err {
        TrainError::Diverged {
            step,
            last_checkpoint,
            ..
        } => {
            assert!(step >= 2, "diverged at {step}");
            assert_eq!(last_checkpoint, step - 1);
            let latest = latest_checkpoint(&out).unwrap();
            assert_eq!(
                latest.file_name().unwrap().to_string_lossy(),
                format!("step-{}", step - 1)
            );
        }
        other => panic!("expected divergence, got {other}"),
    }

    // Resuming with another UNet width is refused.
    let mut o = opts(&data, &out, 5);
    o.channels = [16, 16, 16];
    o.resume = true;
    let err = train(&o, tmp.path(), &embed, "x", |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("configuration differs"), "{err}");
}

trait WithResume {
    fn with_resume(self) -> Self;
}

impl WithResume for DiffusionTraining {
    fn with_resume(mut self) -> Self {
        self.resume = true;
        self
    }
}
