//! Validity of the quality evaluator on the committed corpus (64 paragraphs written for Muse, each
//! with the prompt it answers; crates/muse-quality/data/validity_corpus.jsonl). Each corruption
//! must lower the dimension it targets, and the overall score must rank the original first:
//!
//! (a) sentences shuffled → coherence lower in ≥ 90% of paragraphs;
//! (b) words shuffled within each sentence → fluency lower in ≥ 95%;
//! (c) paired with another paragraph's prompt → relevance lower in ≥ 90%;
//! (d) one sentence repeated → creativity lower in ≥ 95%;
//! (e) overall: original above all four corruptions in ≥ 90%.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that meets bad data should fail loudly"
)]

mod common;

use muse_engine::{SentenceEmbedderRef, TextModel};
use muse_models::SentenceEmbedder;
use muse_quality::text::sentences;
use muse_quality::{BackendError, Evaluator, Scores, TokenScorer, Weights};
use std::cell::RefCell;
use std::collections::HashMap;

#[derive(serde::Deserialize)]
struct Entry {
    prompt: String,
    text: String,
}

fn corpus() -> Vec<Entry> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../muse-quality/data/validity_corpus.jsonl"
    );
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Deterministic Fisher–Yates shuffle (SplitMix64), never returning the identity.
fn shuffle<T: Clone + PartialEq>(items: &[T], seed: u64) -> Vec<T> {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    loop {
        let mut v = items.to_vec();
        for i in (1..v.len()).rev() {
            let j = (next() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
        if v != items || items.len() < 2 {
            return v;
        }
    }
}

fn shuffle_words(sentence: &str, seed: u64) -> String {
    let body = sentence.trim_end_matches(['.', '!', '?']);
    let end = &sentence[body.len()..];
    let words: Vec<String> = body
        .split_whitespace()
        .map(|w| w.trim_end_matches([',', ';', ':']).to_lowercase())
        .collect();
    let mut s = shuffle(&words, seed).join(" ");
    if let Some(f) = s.get(..1) {
        s = f.to_uppercase() + &s[1..];
    }
    s + end
}

/// The language model, remembering scores: the relevance corruption reuses the original text.
struct Cached<'a> {
    lm: &'a TextModel,
    memo: RefCell<HashMap<String, Vec<f64>>>,
}

impl TokenScorer for Cached<'_> {
    fn token_logprobs(&self, text: &str) -> Result<Vec<f64>, BackendError> {
        if let Some(v) = self.memo.borrow().get(text) {
            return Ok(v.clone());
        }
        let v = self.lm.token_logprobs(text)?;
        self.memo.borrow_mut().insert(text.to_string(), v.clone());
        Ok(v)
    }
}

fn rate(hits: usize, n: usize) -> f64 {
    hits as f64 / n as f64
}

#[test]
fn corruptions_lower_the_scores_they_target() {
    let (Some(lm_path), Some(emb_path)) = (
        common::packaged(common::SMOLLM2),
        common::packaged(muse_test_utils::MINILM),
    ) else {
        return;
    };
    let lm = TextModel::load(&lm_path).unwrap();
    let emb = SentenceEmbedder::load(&emb_path).unwrap();
    let cached = Cached {
        lm: &lm,
        memo: RefCell::new(HashMap::new()),
    };
    let embedder = SentenceEmbedderRef::new(&emb);
    let eval = Evaluator::new(&cached, &embedder, Weights::default()).unwrap();
    let corpus = corpus();
    assert!(corpus.len() >= 60);
    let n = corpus.len();
    let (mut a, mut b, mut c, mut d, mut e) = (0, 0, 0, 0, 0);
    for (i, entry) in corpus.iter().enumerate() {
        let sents: Vec<String> = sentences(&entry.text)
            .iter()
            .map(|s| s.to_string())
            .collect();
        let seed = i as u64 + 1;
        let sentence_shuffled = shuffle(&sents, seed).join(" ");
        let word_shuffled = sents
            .iter()
            .enumerate()
            .map(|(k, s)| shuffle_words(s, seed * 100 + k as u64))
            .collect::<Vec<_>>()
            .join(" ");
        let other_prompt = &corpus[(i + n / 2) % n].prompt;
        let repeated = format!("{} {}", entry.text, sents[i % sents.len()]);

        let p = entry.prompt.as_str();
        let score =
            |prompt: &str, text: &str| -> Scores { eval.evaluate(prompt, text, &[]).unwrap() };
        let orig = score(p, &entry.text);
        let corrupted = [
            score(p, &sentence_shuffled),
            score(p, &word_shuffled),
            score(other_prompt, &entry.text),
            score(p, &repeated),
        ];
        a += usize::from(corrupted[0].coherence < orig.coherence);
        b += usize::from(corrupted[1].fluency < orig.fluency);
        c += usize::from(corrupted[2].relevance < orig.relevance);
        d += usize::from(corrupted[3].creativity < orig.creativity);
        e += usize::from(corrupted.iter().all(|s| s.overall < orig.overall));
        if std::env::var_os("MUSE_QUALITY_DEBUG").is_some() {
            eprintln!(
                "{i:2} orig c{:.3} f{:.3} r{:.3} k{:.3} o{:.3} | shuf c{:.3} o{:.3} | words f{:.3} o{:.3} | prompt r{:.3} o{:.3} | rep k{:.3} o{:.3} | nll {:.2} gain {:?}/{:?} order {:.2}/{:.2}",
                orig.coherence,
                orig.fluency,
                orig.relevance,
                orig.creativity,
                orig.overall,
                corrupted[0].coherence,
                corrupted[0].overall,
                corrupted[1].fluency,
                corrupted[1].overall,
                corrupted[2].relevance,
                corrupted[2].overall,
                corrupted[3].creativity,
                corrupted[3].overall,
                orig.details.fluency.mean_nll,
                orig.details.coherence.context_gain,
                corrupted[0].details.coherence.context_gain,
                orig.details.coherence.discourse_order,
                corrupted[0].details.coherence.discourse_order,
            );
        }
    }
    let rates = [rate(a, n), rate(b, n), rate(c, n), rate(d, n), rate(e, n)];
    eprintln!(
        "validity over {n} paragraphs: (a) coherence {:.3}  (b) fluency {:.3}  (c) relevance {:.3}  (d) creativity {:.3}  (e) overall {:.3}",
        rates[0], rates[1], rates[2], rates[3], rates[4]
    );
    assert!(
        rates[0] >= 0.90,
        "sentence shuffle lowered coherence in {:.3}",
        rates[0]
    );
    assert!(
        rates[1] >= 0.95,
        "word shuffle lowered fluency in {:.3}",
        rates[1]
    );
    assert!(
        rates[2] >= 0.90,
        "prompt swap lowered relevance in {:.3}",
        rates[2]
    );
    assert!(
        rates[3] >= 0.95,
        "a repeated sentence lowered creativity in {:.3}",
        rates[3]
    );
    assert!(
        rates[4] >= 0.90,
        "overall ranked the original first in {:.3}",
        rates[4]
    );
}
