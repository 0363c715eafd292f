//! Errors reported by parameter validation and by sampling.

/// Everything that can go wrong while validating parameters or sampling a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SampleError {
    /// A sampling parameter is outside its valid range.
    ///
    /// Displays as e.g. "`top_p` must be in (0, 1], got 1.5".
    #[error("`{name}` must be {expected}, got {value}")]
    InvalidParameter {
        /// The field name in [`SamplingParams`](crate::SamplingParams).
        name: &'static str,
        /// Human-readable description of the valid range.
        expected: &'static str,
        /// The offending value, formatted.
        value: String,
    },
    /// `sample` was called with an empty logits slice.
    #[error("cannot sample from empty logits")]
    EmptyLogits,
    /// Every logit was NaN or `-inf` (after penalties), so no token can be drawn.
    #[error("cannot sample: all {len} logits are NaN or -inf")]
    NoFiniteLogits {
        /// Length of the logits slice.
        len: usize,
    },
}

impl SampleError {
    pub(crate) fn invalid(
        name: &'static str,
        expected: &'static str,
        value: impl ToString,
    ) -> Self {
        Self::InvalidParameter {
            name,
            expected,
            value: value.to_string(),
        }
    }
}
