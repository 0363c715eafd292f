//! The language models the engine can run behind one interface: the Llama family (GGUF or
//! Hugging Face folders, Muse's own kernels) and GPT-2 (Hugging Face folders).

use muse_models::{BatchScratch, Gpt2, Gpt2Cache, KvCache, Llama, LogitsMode, ModelError};

/// A causal language model.
pub enum CausalLm {
    Llama(Llama),
    Gpt2(Gpt2),
}

/// Decode state of one sequence, for the model that made it.
#[derive(Clone)]
pub enum SeqCache {
    Llama(Box<KvCache>),
    Gpt2(Gpt2Cache),
}

impl SeqCache {
    /// Positions held.
    pub fn len(&self) -> usize {
        match self {
            SeqCache::Llama(c) => c.len(),
            SeqCache::Gpt2(c) => c.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Scratch space of batched decoding.
pub enum BatchState {
    Llama(Box<BatchScratch>),
    /// GPT-2 keeps no scratch between steps.
    Gpt2,
}

fn wrong_cache() -> ModelError {
    ModelError::Config("a decode cache was used with a model of another architecture".into())
}

impl CausalLm {
    pub fn vocab(&self) -> usize {
        match self {
            CausalLm::Llama(m) => m.config().vocab,
            CausalLm::Gpt2(m) => m.config().vocab_size,
        }
    }

    /// Context length in tokens.
    pub fn context(&self) -> usize {
        match self {
            CausalLm::Llama(m) => m.config().context,
            CausalLm::Gpt2(m) => m.config().n_positions,
        }
    }

    /// An empty cache with room for about `capacity` positions (it grows as needed).
    pub fn new_cache(&self, capacity: usize) -> SeqCache {
        match self {
            CausalLm::Llama(m) => SeqCache::Llama(Box::new(m.new_cache(capacity))),
            CausalLm::Gpt2(m) => SeqCache::Gpt2(m.new_cache()),
        }
    }

    /// Exact f32 activations instead of the quantized kernels (Llama; GPT-2 always computes in f32).
    pub fn set_exact_f32(&mut self, exact: bool) {
        if let CausalLm::Llama(m) = self {
            m.set_exact_f32(exact);
        }
    }

    /// Run `tokens` after what `cache` holds and write the logits `mode` asks for.
    pub fn forward(
        &self,
        tokens: &[u32],
        cache: &mut SeqCache,
        mode: LogitsMode,
        logits: &mut Vec<f32>,
    ) -> Result<(), ModelError> {
        match (self, cache) {
            (CausalLm::Llama(m), SeqCache::Llama(c)) => m.forward(tokens, c, mode, logits),
            (CausalLm::Gpt2(m), SeqCache::Gpt2(c)) => {
                let all = m.forward(tokens, c)?;
                let vocab = m.config().vocab_size;
                logits.clear();
                match mode {
                    LogitsMode::All => logits.extend_from_slice(&all),
                    LogitsMode::Last => {
                        let start = all.len().saturating_sub(vocab);
                        logits.extend_from_slice(&all[start..]);
                    }
                }
                Ok(())
            }
            _ => Err(wrong_cache()),
        }
    }

    pub fn new_batch(&self) -> BatchState {
        match self {
            CausalLm::Llama(m) => BatchState::Llama(Box::new(m.new_batch())),
            CausalLm::Gpt2(_) => BatchState::Gpt2,
        }
    }

    /// One decode step for several sequences: `tokens[i]` continues `caches[i]`; `logits` gets
    /// one row per sequence.
    pub fn forward_batch(
        &self,
        tokens: &[u32],
        caches: &mut [&mut SeqCache],
        batch: &mut BatchState,
        logits: &mut Vec<f32>,
    ) -> Result<(), ModelError> {
        match (self, batch) {
            (CausalLm::Llama(m), BatchState::Llama(b)) => {
                let mut kv: Vec<&mut KvCache> = Vec::with_capacity(caches.len());
                for c in caches.iter_mut() {
                    match &mut **c {
                        SeqCache::Llama(k) => kv.push(&mut **k),
                        SeqCache::Gpt2(_) => return Err(wrong_cache()),
                    }
                }
                m.forward_batch(tokens, &mut kv, b, logits)
            }
            (CausalLm::Gpt2(m), BatchState::Gpt2) => {
                let mut gc: Vec<&mut Gpt2Cache> = Vec::with_capacity(caches.len());
                for c in caches.iter_mut() {
                    match &mut **c {
                        SeqCache::Gpt2(k) => gc.push(k),
                        SeqCache::Llama(_) => return Err(wrong_cache()),
                    }
                }
                *logits = m.forward_batch(tokens, &mut gc)?;
                Ok(())
            }
            _ => Err(wrong_cache()),
        }
    }
}
