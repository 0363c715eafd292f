//! The weights of the four dimensions in the overall score.

use crate::error::QualityError;
use serde::{Deserialize, Serialize};

/// Weights of coherence, fluency, relevance and creativity in the overall score. They need not
/// sum to 1: the overall score divides by their sum, so it stays in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Weights {
    pub coherence: f64,
    pub fluency: f64,
    pub relevance: f64,
    pub creativity: f64,
}

impl Default for Weights {
    /// Coherence 0.4, fluency 0.3, relevance 0.2, creativity 0.1.
    fn default() -> Self {
        Self {
            coherence: 0.4,
            fluency: 0.3,
            relevance: 0.2,
            creativity: 0.1,
        }
    }
}

impl Weights {
    /// Parse `"c,f,r,k"` (coherence, fluency, relevance, creativity), e.g. `"0.4,0.3,0.2,0.1"`.
    pub fn parse(s: &str) -> Result<Self, QualityError> {
        let bad = |problem: String| QualityError::InvalidParameter {
            name: "weights",
            problem,
        };
        let parts: Vec<&str> = s.split(',').map(str::trim).collect();
        if parts.len() != 4 {
            return Err(bad(format!(
                "must be four comma-separated numbers (coherence,fluency,relevance,creativity), got `{s}`"
            )));
        }
        let mut v = [0.0; 4];
        for (slot, p) in v.iter_mut().zip(&parts) {
            *slot = p
                .parse::<f64>()
                .map_err(|_| bad(format!("`{p}` is not a number")))?;
        }
        let w = Self {
            coherence: v[0],
            fluency: v[1],
            relevance: v[2],
            creativity: v[3],
        };
        w.validate()?;
        Ok(w)
    }

    /// Every weight finite and ≥ 0, and at least one positive.
    pub fn validate(&self) -> Result<(), QualityError> {
        let all = self.as_array();
        if let Some(bad) = all.iter().find(|w| !(w.is_finite() && **w >= 0.0)) {
            return Err(QualityError::InvalidParameter {
                name: "weights",
                problem: format!("must be finite and >= 0, got {bad}"),
            });
        }
        if all.iter().sum::<f64>() <= 0.0 {
            return Err(QualityError::InvalidParameter {
                name: "weights",
                problem: "must not all be zero".into(),
            });
        }
        Ok(())
    }

    fn as_array(&self) -> [f64; 4] {
        [
            self.coherence,
            self.fluency,
            self.relevance,
            self.creativity,
        ]
    }

    /// The weighted mean of the four scores (same order as the fields).
    pub fn combine(&self, coherence: f64, fluency: f64, relevance: f64, creativity: f64) -> f64 {
        let w = self.as_array();
        let total: f64 = w.iter().sum();
        if total <= 0.0 {
            return 0.0;
        }
        let s = [coherence, fluency, relevance, creativity];
        w.iter().zip(s).map(|(w, s)| w * s).sum::<f64>() / total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_combines() {
        let w = Weights::parse("0.4, 0.3,0.2,0.1").unwrap();
        assert_eq!(w, Weights::default());
        assert!((w.combine(1.0, 0.0, 0.0, 0.0) - 0.4).abs() < 1e-12);
        let w = Weights::parse("2,0,0,2").unwrap();
        assert!((w.combine(1.0, 0.0, 0.0, 0.0) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn bad_weights_are_named() {
        for s in ["1,2,3", "a,1,1,1", "-1,1,1,1", "0,0,0,0", "inf,1,1,1"] {
            let e = Weights::parse(s).unwrap_err().to_string();
            assert!(e.contains("`weights`"), "{s}: {e}");
        }
    }
}
