//! Streaming stop-string matching over decoded text pieces.

/// Result of feeding one piece to a [`StopMatcher`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StopStep {
    /// Text that is safe to show the user now.
    pub emit: String,
    /// A stop string was found; `emit` ends right before it and generation should stop.
    pub stopped: bool,
}

/// Streaming stop-string matcher.
///
/// Feed decoded text pieces with [`push`](Self::push); each call returns the text that can
/// no longer be part of a stop string, holding back any suffix that is still a prefix of
/// one. When a stop string completes, the text before it is emitted, the stop string
/// itself is not, and the matcher stays stopped (further pushes emit nothing). Call
/// [`finish`](Self::finish) at the end of generation to flush held-back text.
///
/// If several stop strings occur, the one starting earliest wins. All slicing happens on
/// `char` boundaries, so multi-byte characters are never split.
#[derive(Debug, Clone, Default)]
pub struct StopMatcher {
    stops: Vec<String>,
    /// Length in bytes of the longest stop string.
    max_len: usize,
    held: String,
    stopped: bool,
    matched: Option<usize>,
}

impl StopMatcher {
    /// A matcher for `stops`; empty strings are ignored (duplicates are harmless).
    pub fn new(stops: Vec<String>) -> Self {
        let stops: Vec<String> = stops.into_iter().filter(|s| !s.is_empty()).collect();
        let max_len = stops.iter().map(String::len).max().unwrap_or(0);
        Self {
            stops,
            max_len,
            held: String::new(),
            stopped: false,
            matched: None,
        }
    }

    /// Feeds one decoded piece.
    pub fn push(&mut self, piece: &str) -> StopStep {
        if self.stopped {
            return StopStep {
                emit: String::new(),
                stopped: true,
            };
        }
        self.held.push_str(piece);

        // Earliest complete stop string. Only `held` needs searching: any text that could
        // begin a stop string was held back on earlier calls.
        let mut hit: Option<(usize, usize)> = None;
        for (k, s) in self.stops.iter().enumerate() {
            if let Some(pos) = self.held.find(s.as_str())
                && hit.is_none_or(|(best, _)| pos < best)
            {
                hit = Some((pos, k));
            }
        }
        if let Some((pos, k)) = hit {
            self.held.truncate(pos);
            self.stopped = true;
            self.matched = Some(k);
            return StopStep {
                emit: std::mem::take(&mut self.held),
                stopped: true,
            };
        }

        let keep_from = self.partial_match_start();
        let rest = self.held.split_off(keep_from);
        StopStep {
            emit: std::mem::replace(&mut self.held, rest),
            stopped: false,
        }
    }

    /// Flushes and returns any held-back text (empty after a stop).
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }

    /// Whether a stop string has been hit.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// The stop string that was hit, if any.
    pub fn matched_stop(&self) -> Option<&str> {
        self.matched
            .and_then(|k| self.stops.get(k))
            .map(String::as_str)
    }

    /// Text currently held back because it may begin a stop string.
    pub fn held(&self) -> &str {
        &self.held
    }

    /// Clears all state (keeps the stop strings).
    pub fn reset(&mut self) {
        self.held.clear();
        self.stopped = false;
        self.matched = None;
    }

    /// Byte offset of the longest suffix of `held` that is a proper prefix of some stop
    /// string (`held.len()` if none).
    fn partial_match_start(&self) -> usize {
        let len = self.held.len();
        if self.max_len == 0 {
            return len;
        }
        let lo = len.saturating_sub(self.max_len - 1);
        for i in lo..len {
            if !self.held.is_char_boundary(i) {
                continue;
            }
            let suffix = &self.held[i..];
            if self
                .stops
                .iter()
                .any(|s| s.len() > suffix.len() && s.starts_with(suffix))
            {
                return i;
            }
        }
        len
    }
}
