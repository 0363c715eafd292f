//! Prompt understanding with the embedding model: rules plus similarity to prototype requests, on
//! the labelled and held-out sets of crates/muse-understand/data/.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that meets bad data should fail loudly"
)]

use muse_engine::{SentenceEmbedderRef, prototype_similarity};
use muse_models::SentenceEmbedder;
use muse_understand::{Task, understand};

#[derive(serde::Deserialize)]
struct Labelled {
    prompt: String,
    task: Task,
}

fn read(name: &str) -> Vec<Labelled> {
    let path = format!(
        "{}/../muse-understand/data/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn task_accuracy_with_prototypes() {
    let Some(dir) = muse_test_utils::packaged(muse_test_utils::MINILM) else {
        return;
    };
    let emb = SentenceEmbedder::load(&dir).unwrap();
    let embedder = SentenceEmbedderRef::new(&emb);
    for (name, floor) in [
        ("labelled_prompts.jsonl", 0.9),
        ("heldout_prompts.jsonl", 0.9),
    ] {
        let set = read(name);
        let (mut rules, mut both) = (0usize, 0usize);
        for l in &set {
            let sim = prototype_similarity(&embedder, &l.prompt).unwrap();
            rules += usize::from(understand(&l.prompt, None).unwrap().task == l.task);
            both += usize::from(understand(&l.prompt, Some(&sim)).unwrap().task == l.task);
        }
        let n = set.len() as f64;
        eprintln!(
            "{name}: task accuracy rules {:.3}, rules + prototypes {:.3}",
            rules as f64 / n,
            both as f64 / n
        );
        assert!(both as f64 / n >= floor, "{name}: {:.3}", both as f64 / n);
    }
}
