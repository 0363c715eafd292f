//! `MuseBackend` over the packaged SmolLM2 (feature `engine`; skipped with a message when the
//! model is not installed): concurrent requests are batched and all complete, a burst beyond the
//! queue's capacity is refused with `Overloaded`, and a client that leaves is dropped.
#![cfg(feature = "engine")]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use muse_sample::SamplingParams;
use muse_server::Backend;
use muse_server::backend::{BackendError, GenEvent, GenRequest, Message, Prompt};
use muse_server::engine::{Models, MuseBackend};
use std::path::PathBuf;

fn backend(capacity: usize) -> Option<MuseBackend> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../models/SmolLM2-135M-Instruct.Q4_1.gguf");
    if !path.is_file() {
        eprintln!(
            "SKIPPED: {} is not installed (run ./setup.sh)",
            path.display()
        );
        return None;
    }
    let load = Box::new(move || {
        Ok(Models {
            text: muse_engine::TextModel::load(&path).map_err(|e| e.to_string())?,
            embedder: None,
            weights: muse_quality::Weights::default(),
        })
    });
    let filters = muse_safety::FilterChain::builtin().unwrap();
    Some(MuseBackend::start(load, filters, capacity).unwrap())
}

/// A backend with the packaged SmolLM2 and MiniLM (the content pipeline needs both), or `None`
/// when they are not installed.
fn full_backend() -> Option<MuseBackend> {
    let minilm = muse_test_utils::packaged(muse_test_utils::MINILM)?;
    let gguf = muse_test_utils::packaged(muse_test_utils::SMOLLM2)?;
    let load = Box::new(move || {
        Ok(Models {
            text: muse_engine::TextModel::load(&gguf).map_err(|e| e.to_string())?,
            embedder: Some(
                muse_models::SentenceEmbedder::load(&minilm).map_err(|e| e.to_string())?,
            ),
            weights: muse_quality::Weights::default(),
        })
    });
    Some(MuseBackend::start(load, muse_safety::FilterChain::builtin().unwrap(), 4).unwrap())
}

fn request(content: &str, max_tokens: usize, n: usize) -> GenRequest {
    GenRequest {
        model: "SmolLM2-135M-Instruct.Q4_1".into(),
        prompt: Prompt::Chat(vec![Message {
            role: "user".into(),
            content: content.into(),
        }]),
        max_tokens,
        sampling: SamplingParams {
            seed: 3,
            ..SamplingParams::default()
        },
        stop: Vec::new(),
        n,
        logprobs: None,
    }
}

/// (text per choice, finished choices)
async fn drain(mut rx: tokio::sync::mpsc::UnboundedReceiver<GenEvent>, n: usize) -> Vec<String> {
    let mut texts = vec![String::new(); n];
    let mut done = 0;
    assert!(matches!(rx.recv().await, Some(GenEvent::Started { .. })));
    while done < n {
        match rx.recv().await.unwrap() {
            GenEvent::Text { index, text } => texts[index].push_str(&text),
            GenEvent::Finished {
                completion_tokens, ..
            } => {
                assert!(completion_tokens > 0);
                done += 1;
            }
            e => panic!("unexpected {e:?}"),
        }
    }
    texts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_complete_and_a_burst_overflows() {
    let Some(b) = backend(2) else { return };
    assert_eq!(b.models()[0].id, "SmolLM2-135M-Instruct.Q4_1");
    let mut accepted = Vec::new();
    let mut refused = 0;
    for i in 0..40 {
        let n = if i % 2 == 0 { 1 } else { 2 };
        match b.generate(request("Name a colour.", 6, n)) {
            Ok(rx) => accepted.push((rx, n)),
            Err(BackendError::Overloaded { retry_after }) => {
                assert!(retry_after >= 1);
                refused += 1;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(
        refused > 0,
        "40 requests into a queue of 2 were all accepted"
    );
    assert!(accepted.len() >= 2);
    for (rx, n) in accepted {
        let texts = drain(rx, n).await;
        assert!(texts.iter().all(|t| !t.is_empty()));
    }
    assert_eq!(b.queue_depth(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prompt_over_the_context_is_refused_naming_messages() {
    let Some(b) = backend(4) else { return };
    let long = "word ".repeat(10_000);
    let mut rx = b.generate(request(&long, 4, 1)).unwrap();
    match rx.recv().await {
        Some(GenEvent::Failed(BackendError::Invalid { param, message })) => {
            assert_eq!(param, "messages");
            assert!(message.contains("context"), "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_is_dropped_and_others_go_on() {
    let Some(b) = backend(4) else { return };
    let mut rx = b.generate(request("Write a long story.", 2000, 1)).unwrap();
    assert!(matches!(rx.recv().await, Some(GenEvent::Started { .. })));
    // The third piece of text comes from the second decode step, after the worker has
    // counted the sequence.
    for _ in 0..3 {
        assert!(matches!(rx.recv().await, Some(GenEvent::Text { .. })));
    }
    assert_eq!(b.running_sequences(), 1);
    drop(rx);
    // 2000 tokens would take many seconds; the abandoned sequence leaves at the next step.
    let t0 = std::time::Instant::now();
    while b.running_sequences() > 0 {
        assert!(
            t0.elapsed().as_secs_f64() < 3.0,
            "the abandoned sequence kept running"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let texts = drain(b.generate(request("Name a colour.", 4, 1)).unwrap(), 1).await;
    assert!(!texts[0].is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn greedy_tokens_are_the_top_logprob() {
    let Some(b) = backend(4) else { return };
    let mut req = request("Name a colour.", 6, 1);
    req.sampling.temperature = 0.0;
    req.logprobs = Some(3);
    let mut rx = b.generate(req).unwrap();
    let mut entries = Vec::new();
    let mut text = String::new();
    loop {
        match rx.recv().await.unwrap() {
            GenEvent::Logprobs { entries: e, .. } => entries.extend(e),
            GenEvent::Text { text: t, .. } => text.push_str(&t),
            GenEvent::Finished {
                completion_tokens, ..
            } => {
                assert_eq!(entries.len(), completion_tokens);
                break;
            }
            GenEvent::Started { .. } => {}
            GenEvent::Failed(e) => panic!("{e}"),
        }
    }
    assert!(!entries.is_empty());
    for e in &entries {
        assert_eq!(e.top_logprobs.len(), 3);
        assert_eq!(
            e.top_logprobs[0].token, e.token,
            "greedy takes the likeliest token"
        );
        assert!(e.logprob <= 0.0 && (e.logprob - e.top_logprobs[0].logprob).abs() < 1e-6);
        assert!(e.top_logprobs[1].logprob <= e.top_logprobs[0].logprob);
        let mass: f32 = e.top_logprobs.iter().map(|t| t.logprob.exp()).sum();
        assert!(mass <= 1.0 + 1e-4);
    }
    let joined: String = entries.iter().map(|e| e.token.as_str()).collect();
    assert_eq!(joined, text);
}

/// `POST /v1/create`'s backend call runs the real pipeline: the task is understood, the content
/// is generated, scored and traced; and without the embedding model it says what is missing.
#[tokio::test]
async fn create_runs_the_whole_pipeline() {
    let Some(without) = backend(4) else { return };
    let job = muse_server::backend::CreateJob {
        prompt: "Write a short ad for a waterproof running shoe, under 40 words".into(),
        best_of: 1,
        max_rounds: 1,
        min_score: None,
        sampling: SamplingParams {
            seed: 1,
            ..SamplingParams::default()
        },
        plan_only: false,
    };
    let err = muse_server::backend::wait(without.create(job.clone()).unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(err, BackendError::Unavailable(ref m) if m.contains("embedding")),
        "{err:?}"
    );
    let Some(b) = full_backend() else { return };
    let v = muse_server::backend::wait(b.create(job).unwrap())
        .await
        .unwrap();
    assert_eq!(v["task"], "ad", "{v}");
    assert!(
        v["content"].as_str().is_some_and(|c| !c.trim().is_empty()),
        "{v}"
    );
    let overall = v["scores"]["overall"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&overall));
    let stages: Vec<&str> = v["trace"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["stage"].as_str())
        .collect();
    for s in ["understand", "generate", "evaluate", "safety"] {
        assert!(stages.contains(&s), "{s} missing from {stages:?}");
    }
}

/// An image service that records what it was asked and returns fixed bytes per image.
struct FakeImages(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl muse_server::engine::ImageService for FakeImages {
    fn generate(
        &mut self,
        job: &muse_server::backend::ImageJob,
    ) -> Result<Vec<muse_server::backend::GeneratedImage>, BackendError> {
        self.0.lock().unwrap().push(job.prompt.clone());
        if job.prompt.contains("withhold") {
            return Err(BackendError::Invalid {
                param: "prompt".into(),
                message: "an image was withheld by the image safety filter".into(),
            });
        }
        Ok((0..job.n)
            .map(|_| muse_server::backend::GeneratedImage {
                png: b"PNGBYTES".to_vec(),
            })
            .collect())
    }
}

/// Image requests to `POST /v1/create` are drawn on the image lane and come back as data URLs;
/// without an image model they are `Unavailable`; a withheld image is a warning, not an error.
#[tokio::test]
async fn create_draws_images_on_the_image_lane() {
    let Some(b) = full_backend() else { return };
    let job = |prompt: &str| muse_server::backend::CreateJob {
        prompt: prompt.into(),
        best_of: 1,
        max_rounds: 1,
        min_score: None,
        sampling: SamplingParams::default(),
        plan_only: false,
    };
    let err = muse_server::backend::wait(b.create(job("Generate an image of a red bag")).unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::Unavailable(_)), "{err:?}");

    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = asked.clone();
    let b = b
        .with_images("fake-image".into(), move || {
            Ok(Box::new(FakeImages(seen)) as Box<dyn muse_server::engine::ImageService>)
        })
        .unwrap();
    assert!(b.models().iter().any(|m| m.id == "fake-image"));
    let v = muse_server::backend::wait(b.create(job("Generate an image of a red bag")).unwrap())
        .await
        .unwrap();
    assert_eq!(v["task"], "image", "{v}");
    // base64 of "PNGBYTES".
    assert_eq!(
        v["images"],
        serde_json::json!(["data:image/png;base64,UE5HQllURVM="]),
        "{v}"
    );
    assert_eq!(asked.lock().unwrap().len(), 1);
    let v = muse_server::backend::wait(
        b.create(job("Generate an image of a bag, withhold it"))
            .unwrap(),
    )
    .await
    .unwrap();
    assert!(v["images"].as_array().is_none_or(Vec::is_empty), "{v}");
    assert!(v["warnings"].to_string().contains("withheld"), "{v}");
}
