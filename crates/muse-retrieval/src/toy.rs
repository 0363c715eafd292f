//! A deterministic toy [`Embedder`] for tests and benchmarks that must run without a model:
//! words (alphanumeric runs, lowercased) are the tokens, and a text's vector is its hashed bag
//! of words, normalised. Texts sharing words are similar; nothing else is.

use crate::{Embedder, Result, normalize};

#[derive(Debug, Clone)]
pub struct HashEmbedder {
    pub dim: usize,
    pub max_tokens: usize,
    /// Sleep this long per `embed` call (to widen windows in crash tests).
    pub delay: std::time::Duration,
}

impl Default for HashEmbedder {
    fn default() -> Self {
        Self {
            dim: 64,
            max_tokens: 128,
            delay: std::time::Duration::ZERO,
        }
    }
}

fn words(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                spans.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        spans.push((s, text.len()));
    }
    spans
}

/// FNV-1a, enough to spread words over the dimensions.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

impl Embedder for HashEmbedder {
    fn name(&self) -> String {
        format!("toy-hash-{}", self.dim)
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn max_tokens(&self) -> usize {
        self.max_tokens
    }
    fn token_spans(&self, text: &str) -> Result<Vec<(usize, usize)>> {
        Ok(words(text))
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        if !self.delay.is_zero() {
            std::thread::sleep(self.delay);
        }
        Ok(texts
            .iter()
            .map(|t| {
                let mut v = vec![0f32; self.dim];
                for (s, e) in words(t) {
                    let h = fnv(&t[s..e].to_lowercase());
                    let sign = if h >> 63 == 0 { 1.0 } else { -1.0 };
                    v[(h % self.dim as u64) as usize] += sign;
                }
                normalize(&mut v);
                v
            })
            .collect())
    }
}
