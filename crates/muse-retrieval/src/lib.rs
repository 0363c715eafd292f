//! Knowledge retrieval for Muse — the *retrieve* stage of the pipeline.
//!
//! Files are loaded to plain text ([`loaders`]), cut into overlapping chunks by the tokens of the
//! embedding model ([`chunk`]), embedded through the [`Embedder`] trait (this crate never touches
//! a tensor), and kept in one SQLite database per knowledge base ([`store`]): documents, chunks,
//! vectors and an FTS5 BM25 index, written in one transaction per file so that a crash leaves each
//! file wholly in or wholly out. An HNSW graph ([`hnsw`]) over the vectors is a derived cache
//! tagged with the store's generation and caught up from SQLite when stale. [`KnowledgeBase`]
//! ties them together: vector, keyword and hybrid (reciprocal rank fusion, [`fusion`]) search.

pub mod chunk;
pub mod error;
pub mod eval;
pub mod fusion;
pub mod hnsw;
pub mod kb;
pub mod loaders;
pub mod store;
pub mod toy;

pub use error::{Result, RetrievalError};

pub use kb::{AddOutcome, AddSummary, Hit, KnowledgeBase, SearchMode, SearchOptions};

/// Turns texts into unit-length vectors and exposes the tokenization that chunking follows.
/// Implemented in `muse-cli` over `muse_models::SentenceEmbedder`; tests use toy embedders.
pub trait Embedder {
    /// A stable name for the model (stored in the knowledge base: vectors of two models never mix).
    fn name(&self) -> String;
    /// Length of the vectors.
    fn dim(&self) -> usize;
    /// Most tokens one input may have, special tokens excluded; chunks are cut to fit.
    fn max_tokens(&self) -> usize;
    /// Byte spans `(start, end)` in `text` of its tokens, in order, special tokens excluded.
    fn token_spans(&self, text: &str) -> Result<Vec<(usize, usize)>>;
    /// One unit-length vector of length [`Embedder::dim`] per text, in order.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>>;
}

/// Dot product; the cosine similarity of unit vectors. Muse's kernel crate picks an AVX2+FMA
/// body at run time: 1.6× faster HNSW builds than a baseline-x86-64 loop. (A 4-register
/// variant with AVX-512 written here measured 3× slower per 384-d product — 88 ns against
/// 26 ns — and was dropped.)
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    muse_kernels::f32ops::dot(a, b)
}

/// Scale `v` to unit length (left as is when it is all zeros).
pub fn normalize(v: &mut [f32]) {
    let n = dot(v, v).sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn dot_matches_a_plain_sum_at_every_length() {
        for n in [0, 1, 7, 31, 64, 100, 384, 1000] {
            let a: Vec<f32> = (0..n).map(|i| ((i * 7 % 13) as f32 - 6.0) / 8.0).collect();
            let b: Vec<f32> = (0..n).map(|i| ((i * 5 % 11) as f32 - 5.0) / 4.0).collect();
            let want: f64 = a
                .iter()
                .zip(&b)
                .map(|(x, y)| f64::from(*x) * f64::from(*y))
                .sum();
            let got = super::dot(&a, &b);
            assert!(
                (f64::from(got) - want).abs() < 1e-3,
                "n {n}: {got} vs {want}"
            );
        }
    }
}
