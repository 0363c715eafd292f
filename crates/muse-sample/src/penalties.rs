//! Repetition penalties over a window of recently accepted tokens.
//!
//! * Repetition penalty (CTRL, Keskar et al. 2019, as implemented in llama.cpp): for a
//!   token that occurs in the window, a positive logit is divided by the penalty and a
//!   non-positive logit is multiplied by it, so the token always becomes less likely for
//!   a penalty > 1.
//! * Presence / frequency penalties (OpenAI API documentation):
//!   `logit -= count * frequency_penalty + (count > 0) * presence_penalty`.
//!
//! Both are applied, repetition penalty first, as llama.cpp does.

use std::collections::{HashMap, VecDeque};

/// The three penalty strengths.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Penalties {
    /// Multiplicative repetition penalty; `1` = off.
    pub repeat: f32,
    /// Subtracted once from the logit of every token present in the window; `0` = off.
    pub presence: f32,
    /// Subtracted `count` times from the logit of every token in the window; `0` = off.
    pub frequency: f32,
}

impl Default for Penalties {
    fn default() -> Self {
        Self {
            repeat: 1.0,
            presence: 0.0,
            frequency: 0.0,
        }
    }
}

impl Penalties {
    /// Whether applying these penalties changes nothing.
    pub fn is_noop(&self) -> bool {
        self.repeat == 1.0 && self.presence == 0.0 && self.frequency == 0.0
    }

    /// The penalised value of `logit` for a token seen `count` times (`count == 0` returns
    /// `logit` unchanged).
    pub fn apply_one(&self, logit: f32, count: u32) -> f32 {
        if count == 0 {
            return logit;
        }
        let mut l = logit;
        if self.repeat != 1.0 {
            l = if l > 0.0 {
                l / self.repeat
            } else {
                l * self.repeat
            };
        }
        l - count as f32 * self.frequency - self.presence
    }
}

/// Applies `penalties` to `logits` in place, for each `(token, count)` pair. Tokens outside
/// the logits range are ignored, as are NaN logits (which stay NaN and are later treated
/// as `-inf`).
pub fn apply_penalties(
    logits: &mut [f32],
    counts: impl IntoIterator<Item = (u32, u32)>,
    penalties: &Penalties,
) {
    if penalties.is_noop() {
        return;
    }
    for (token, count) in counts {
        if let Some(l) = logits.get_mut(token as usize) {
            *l = penalties.apply_one(*l, count);
        }
    }
}

/// The last `window` accepted tokens, with per-token occurrence counts maintained
/// incrementally (O(1) per accepted token, O(distinct tokens) per sample).
#[derive(Debug, Clone, Default)]
pub struct TokenHistory {
    window: usize,
    recent: VecDeque<u32>,
    counts: HashMap<u32, u32>,
}

impl TokenHistory {
    /// An empty history that remembers at most `window` tokens (`0` remembers nothing).
    pub fn new(window: usize) -> Self {
        Self {
            window,
            recent: VecDeque::with_capacity(window.min(4096)),
            counts: HashMap::new(),
        }
    }

    /// Records `token`, evicting the oldest one once the window is full.
    pub fn push(&mut self, token: u32) {
        if self.window == 0 {
            return;
        }
        if self.recent.len() == self.window
            && let Some(old) = self.recent.pop_front()
            && let Some(n) = self.counts.get_mut(&old)
        {
            *n -= 1;
            if *n == 0 {
                self.counts.remove(&old);
            }
        }
        self.recent.push_back(token);
        *self.counts.entry(token).or_insert(0) += 1;
    }

    /// `(token, count)` for every distinct token in the window (arbitrary order).
    pub fn counts(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.counts.iter().map(|(&t, &n)| (t, n))
    }

    /// How many times `token` occurs in the window.
    pub fn count(&self, token: u32) -> u32 {
        self.counts.get(&token).copied().unwrap_or(0)
    }

    /// The tokens in the window, oldest first.
    pub fn recent(&self) -> impl Iterator<Item = u32> + '_ {
        self.recent.iter().copied()
    }

    /// Number of tokens in the window.
    pub fn len(&self) -> usize {
        self.recent.len()
    }

    /// Whether the window is empty.
    pub fn is_empty(&self) -> bool {
        self.recent.is_empty()
    }

    /// Forgets every token.
    pub fn clear(&mut self) {
        self.recent.clear();
        self.counts.clear();
    }
}
