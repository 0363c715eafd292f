//! Token sampling for the muse engine: turns a logits vector into one token id.
//!
//! This crate has no tensor dependency; it works on `&mut [f32]` logits (one per
//! vocabulary entry). The design follows llama.cpp's sampler chain (`llama-sampling.cpp`):
//! the logits become a list of [`Candidates`] `(id, logit, p)` and small processors
//! transform or truncate that list in a fixed order:
//!
//! 1. **penalties** ([`apply_penalties`]) on the logits, from the window of recently
//!    accepted tokens:
//!    * repetition penalty as introduced by CTRL (Keskar et al. 2019, "CTRL: A Conditional
//!      Transformer Language Model for Controllable Generation") in llama.cpp's form:
//!      positive logits are divided by the penalty, non-positive ones multiplied;
//!    * presence and frequency penalties as documented by OpenAI:
//!      `logit -= count * frequency_penalty + (count > 0) * presence_penalty`;
//! 2. **top-k** ([`top_k`]), using `select_nth_unstable` (no full sort of the vocabulary);
//! 3. **temperature** ([`temperature`]): `logit / T`;
//! 4. **softmax** ([`Candidates::softmax`]);
//! 5. **top-p** / nucleus sampling ([`top_p`], Holtzman et al. 2019, "The Curious Case of
//!    Neural Text Degeneration");
//! 6. **min-p** ([`min_p`], Nguyen et al. 2024, "Turning Up the Heat: Min-p Sampling for
//!    Creative and Coherent LLM Outputs"): drop tokens with `p < min_p * p_max`;
//! 7. **renormalise** ([`Candidates::renormalize`]) and **draw** ([`draw`]) with a
//!    `ChaCha8Rng` keyed from [`SamplingParams::seed`] (SplitMix64 expansion; uniforms taken
//!    from the top 53 bits of `next_u64`), so a seed gives the same tokens on every run and
//!    platform, independent of `rand`'s distribution code.
//!
//! `temperature == 0` short-circuits after the penalties to the exact argmax ([`greedy`],
//! ties to the lowest id) without touching the random generator.
//!
//! [`Sampler`] bundles the chain with its state (generator, penalty window and a reused
//! candidate buffer, so sampling does not allocate per call). [`StopMatcher`] handles
//! stop strings over streamed text.
//!
//! ```
//! use muse_sample::{Sampler, SamplingParams};
//!
//! let mut sampler = Sampler::new(SamplingParams { seed: 42, ..Default::default() })?;
//! for &prompt_token in &[1u32, 2, 3] {
//!     sampler.accept(prompt_token);
//! }
//! let mut logits = vec![0.0f32, 1.0, 5.0, -2.0];
//! let token = sampler.sample(&mut logits)?;
//! sampler.accept(token);
//! assert!(token < 4);
//! # Ok::<(), muse_sample::SampleError>(())
//! ```

mod candidates;
mod error;
mod params;
mod penalties;
mod sampler;
mod stop;
mod temperature;
mod truncation;

pub use candidates::{Candidate, Candidates};
pub use error::SampleError;
pub use params::SamplingParams;
pub use penalties::{Penalties, TokenHistory, apply_penalties};
pub use sampler::{Sampler, draw, greedy};
pub use stop::{StopMatcher, StopStep};
pub use temperature::temperature;
pub use truncation::{min_p, top_k, top_p};
