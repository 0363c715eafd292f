//! The whole pipeline on the committed create prompts (crates/muse-understand/data/
//! create_prompts.jsonl: 32 requests across the text tasks, each with a checkable constraint):
//! constraint-satisfaction rate, mean overall score and end-to-end latency, best-of 1 against
//! best-of 4 (both with up to 3 rounds).
//!
//! ```sh
//! cargo run --release -p muse-engine --example create_bench -- [--prompts K]
//! ```

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark program"
)]

use muse_engine::{CreateRequest, Pipeline, SentenceEmbedderRef, TextModel};
use muse_models::SentenceEmbedder;
use muse_quality::{Evaluator, Weights};
use muse_safety::FilterChain;
use std::time::Instant;

#[derive(serde::Deserialize)]
struct Prompt {
    prompt: String,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let limit = args
        .iter()
        .position(|a| a == "--prompts")
        .and_then(|i| args.get(i + 1))
        .map_or(usize::MAX, |v| v.parse().expect("a number"));
    let models = muse_test_utils::models_dir();
    let lm = TextModel::load(&models.join(muse_test_utils::SMOLLM2)).expect("run ./setup.sh");
    let emb = SentenceEmbedder::load(&models.join(muse_test_utils::MINILM)).unwrap();
    let embedder = SentenceEmbedderRef::new(&emb);
    let evaluator = Evaluator::new(&lm, &embedder, Weights::default()).unwrap();
    let safety = FilterChain::builtin().unwrap();
    let pipeline = Pipeline {
        lm: &lm,
        embedder: &embedder,
        evaluator: &evaluator,
        safety: &safety,
        audit: None,
        image: None,
    };
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../muse-understand/data/create_prompts.jsonl"
    );
    let prompts: Vec<Prompt> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .take(limit)
        .collect();
    println!(
        "prompts: {}, max_rounds 3, temperature 0.8, repeat_penalty 1.1",
        prompts.len()
    );
    println!(
        "| best-of | constraints met | mean overall | mean rounds | mean latency (s) | p90 latency (s) |"
    );
    println!("|---|---|---|---|---|---|");
    for n in [1usize, 4] {
        let (mut met, mut overall, mut rounds) = (0usize, 0.0f64, 0usize);
        let mut lat = Vec::new();
        for (i, p) in prompts.iter().enumerate() {
            let mut req = CreateRequest::new(p.prompt.clone());
            req.best_of = n;
            req.sampling.seed = 100 + i as u64;
            let t = Instant::now();
            let c = pipeline.create(&req).unwrap();
            lat.push(t.elapsed().as_secs_f64());
            met += usize::from(c.checks.as_ref().is_some_and(|k| k.passed));
            overall += c.scores.as_ref().map_or(0.0, |s| s.overall);
            rounds += c
                .trace
                .iter()
                .find(|e| e.stage == "optimize")
                .and_then(|e| e.detail.get("rounds"))
                .and_then(|r| r.as_u64())
                .unwrap_or(0) as usize;
        }
        let k = prompts.len() as f64;
        lat.sort_by(f64::total_cmp);
        let p90 = lat[((lat.len() as f64 * 0.9).ceil() as usize)
            .saturating_sub(1)
            .min(lat.len() - 1)];
        println!(
            "| {n} | {}/{} ({:.0}%) | {:.4} | {:.2} | {:.2} | {:.2} |",
            met,
            prompts.len(),
            100.0 * met as f64 / k,
            overall / k,
            rounds as f64 / k,
            lat.iter().sum::<f64>() / k,
            p90
        );
    }
}
