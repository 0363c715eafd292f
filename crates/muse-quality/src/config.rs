//! The `[quality]` table of `muse.toml`:
//!
//! ```toml
//! [quality.weights]
//! coherence = 0.4
//! fluency = 0.3
//! relevance = 0.2
//! creativity = 0.1
//! ```

use crate::error::QualityError;
use crate::weights::Weights;
use serde::Deserialize;
use std::path::Path;

/// Quality settings; every field has a default.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QualityConfig {
    pub weights: Weights,
}

#[derive(Deserialize)]
struct ConfigFile {
    #[serde(default)]
    quality: QualityConfig,
}

impl QualityConfig {
    /// The `[quality]` table of a whole TOML document (other tables are ignored; a missing table
    /// gives the defaults).
    pub fn from_toml_str(text: &str) -> Result<Self, QualityError> {
        let file: ConfigFile =
            toml::from_str(text).map_err(|e| QualityError::Config(e.to_string()))?;
        file.quality.weights.validate()?;
        Ok(file.quality)
    }

    pub fn from_file(path: &Path) -> Result<Self, QualityError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| QualityError::Config(format!("{}: {e}", path.display())))?;
        Self::from_toml_str(&text).map_err(|e| match e {
            QualityError::Config(m) => QualityError::Config(format!("{}: {m}", path.display())),
            other => other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_weights_and_defaults_the_rest() {
        let c = QualityConfig::from_toml_str("[safety]\nx = 1\n[quality.weights]\nfluency = 0.5\n")
            .unwrap();
        assert_eq!(c.weights.fluency, 0.5);
        assert_eq!(c.weights.coherence, 0.4);
        assert_eq!(
            QualityConfig::from_toml_str("").unwrap(),
            QualityConfig::default()
        );
    }

    #[test]
    fn typos_and_bad_values_are_named() {
        let e = QualityConfig::from_toml_str("[quality.weights]\ncoherance = 1\n").unwrap_err();
        assert!(e.to_string().contains("coherance"), "{e}");
        let e = QualityConfig::from_toml_str("[quality.weights]\nfluency = -1\n").unwrap_err();
        assert!(e.to_string().contains("weights"), "{e}");
    }
}
