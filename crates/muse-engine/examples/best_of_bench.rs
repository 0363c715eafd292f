//! Does best-of-N raise quality, and what does it cost? For every prompt of
//! crates/muse-quality/data/bestof_prompts.jsonl, sample N = 1, 4 and 8 candidates at equal
//! sampling settings, keep the best by the overall score, and report the mean overall score of the
//! winners (each re-scored alone, so every N is measured the same way) and the mean time per
//! prompt. Also times N = 8 in one batch against 8 sequential single runs.
//!
//! ```sh
//! cargo run --release -p muse-engine --example best_of_bench -- [--prompts K] [--max-tokens T]
//! ```

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark program"
)]

use muse_engine::{GenerateRequest, OptimizeRequest, SentenceEmbedderRef, TextModel};
use muse_models::SentenceEmbedder;
use muse_quality::{Evaluator, Weights};
use muse_sample::SamplingParams;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Instant;

#[derive(serde::Deserialize)]
struct Prompt {
    prompt: String,
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| v.parse().expect("a number"))
}

fn main() {
    let limit = arg("--prompts", usize::MAX);
    let max_tokens = arg("--max-tokens", 96);
    let models = muse_test_utils::models_dir();
    let lm = TextModel::load(&models.join(muse_test_utils::SMOLLM2)).expect("run ./setup.sh");
    let emb = SentenceEmbedder::load(&models.join(muse_test_utils::MINILM)).unwrap();
    let embedder = SentenceEmbedderRef::new(&emb);
    let eval = Evaluator::new(&lm, &embedder, Weights::default()).unwrap();
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../muse-quality/data/bestof_prompts.jsonl");
    let prompts: Vec<Prompt> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .take(limit)
        .collect();
    let request = |p: &str, seed: u64| {
        let mut g = GenerateRequest::new(p);
        g.max_tokens = max_tokens;
        g.sampling = SamplingParams {
            temperature: 0.8,
            repeat_penalty: 1.1,
            seed,
            ..SamplingParams::default()
        };
        g
    };
    println!(
        "prompts: {}, max_tokens {max_tokens}, temperature 0.8, top_k 40, top_p 0.95, min_p 0.05, repeat_penalty 1.1",
        prompts.len()
    );
    println!(
        "| N | mean overall | mean coherence | mean fluency | mean relevance | mean creativity | s / prompt |"
    );
    println!("|---|---|---|---|---|---|---|");
    for n in [1usize, 4, 8] {
        let mut sums = [0.0f64; 5];
        let t0 = Instant::now();
        for (i, p) in prompts.iter().enumerate() {
            let r = lm
                .optimize(
                    &OptimizeRequest::new(request(&p.prompt, 1000 * i as u64), n),
                    &eval,
                )
                .unwrap();
            // Re-score the winner on its own: among candidates, creativity also counts difference
            // from the siblings, which a single sample has none of; alone, every N is scored alike.
            let s = eval
                .evaluate(&p.prompt, &r.best().unwrap().text, &[])
                .unwrap();
            for (acc, v) in
                sums.iter_mut()
                    .zip([s.overall, s.coherence, s.fluency, s.relevance, s.creativity])
            {
                *acc += v;
            }
        }
        let k = prompts.len() as f64;
        println!(
            "| {n} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {:.2} |",
            sums[0] / k,
            sums[1] / k,
            sums[2] / k,
            sums[3] / k,
            sums[4] / k,
            t0.elapsed().as_secs_f64() / k
        );
    }
    // Batched against sequential generation: same 8 seeds, same tokens.
    let (mut batched_tokens, mut batched_s, mut seq_tokens, mut seq_s) =
        (0usize, 0.0f64, 0usize, 0.0f64);
    for (i, p) in prompts.iter().enumerate() {
        let req = request(&p.prompt, 1000 * i as u64);
        let t = Instant::now();
        let b = lm.generate_n(&req, 8).unwrap();
        batched_s += t.elapsed().as_secs_f64();
        batched_tokens += b.timings.generated_tokens;
        let t = Instant::now();
        for k in 0..8u64 {
            let mut r = req.clone();
            r.sampling.seed += k;
            seq_tokens += lm
                .generate(&r, |_| ControlFlow::Continue(()))
                .unwrap()
                .tokens;
        }
        seq_s += t.elapsed().as_secs_f64();
    }
    println!(
        "\nN = 8, generation only: batched {:.1} tok/s ({batched_tokens} tokens), sequential {:.1} tok/s ({seq_tokens} tokens), ratio {:.2}x",
        batched_tokens as f64 / batched_s,
        seq_tokens as f64 / seq_s,
        (batched_tokens as f64 / batched_s) / (seq_tokens as f64 / seq_s)
    );
}
