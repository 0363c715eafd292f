//! User-facing sampling parameters and their validation.

use crate::SampleError;

/// All user-facing sampling parameters.
///
/// Defaults: temperature 0.8, top_k 40, top_p 0.95, min_p 0.05, repeat_penalty 1.0 (off),
/// presence_penalty 0.0, frequency_penalty 0.0, repeat_last_n 64, seed 0.
///
/// When deserialising, missing fields take their default values.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SamplingParams {
    /// Softmax temperature, `>= 0`. `0` means greedy decoding: exact argmax (ties go to the
    /// lowest token id), deterministic, and the random generator is not used.
    pub temperature: f32,
    /// Keep only the `top_k` highest logits. `0` disables.
    pub top_k: usize,
    /// Nucleus sampling: keep the smallest set of most-likely tokens whose cumulative
    /// probability reaches `top_p`. In `(0, 1]`; `1` disables.
    pub top_p: f32,
    /// Drop tokens whose probability is below `min_p` times the most likely token's
    /// probability. In `[0, 1)`; `0` disables.
    pub min_p: f32,
    /// CTRL / llama.cpp repetition penalty, `> 0`; `1` disables. For each token seen in the
    /// window, a positive logit is divided by it and a non-positive logit multiplied by it.
    pub repeat_penalty: f32,
    /// OpenAI presence penalty: `logit -= presence_penalty` for every token seen in the window.
    pub presence_penalty: f32,
    /// OpenAI frequency penalty: `logit -= frequency_penalty * count` for every token in the window.
    pub frequency_penalty: f32,
    /// How many of the most recently accepted tokens the penalties look at (`0` = none).
    pub repeat_last_n: usize,
    /// Seed for the ChaCha8 generator used to draw tokens.
    pub seed: u64,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.0,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            repeat_last_n: 64,
            seed: 0,
        }
    }
}

impl SamplingParams {
    /// Parameters for greedy (argmax) decoding with no penalties.
    pub fn greedy() -> Self {
        Self {
            temperature: 0.0,
            ..Self::default()
        }
    }

    /// Checks every parameter's range; the error names the first offending parameter and value.
    pub fn validate(&self) -> Result<(), SampleError> {
        let t = self.temperature;
        if !(t.is_finite() && t >= 0.0) {
            return Err(SampleError::invalid(
                "temperature",
                "a finite number >= 0",
                t,
            ));
        }
        let p = self.top_p;
        if !(p > 0.0 && p <= 1.0) {
            return Err(SampleError::invalid("top_p", "in (0, 1]", p));
        }
        let m = self.min_p;
        if !(0.0..1.0).contains(&m) {
            return Err(SampleError::invalid("min_p", "in [0, 1)", m));
        }
        let r = self.repeat_penalty;
        if !(r.is_finite() && r > 0.0) {
            return Err(SampleError::invalid(
                "repeat_penalty",
                "a finite number > 0",
                r,
            ));
        }
        if !self.presence_penalty.is_finite() {
            return Err(SampleError::invalid(
                "presence_penalty",
                "a finite number",
                self.presence_penalty,
            ));
        }
        if !self.frequency_penalty.is_finite() {
            return Err(SampleError::invalid(
                "frequency_penalty",
                "a finite number",
                self.frequency_penalty,
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err_text(p: &SamplingParams) -> String {
        match p.validate() {
            Ok(()) => String::from("<ok>"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn defaults_are_valid_and_match_spec() {
        let p = SamplingParams::default();
        assert!(p.validate().is_ok());
        assert_eq!(p.temperature, 0.8);
        assert_eq!(p.top_k, 40);
        assert_eq!(p.top_p, 0.95);
        assert_eq!(p.min_p, 0.05);
        assert_eq!(p.repeat_penalty, 1.0);
        assert_eq!(p.presence_penalty, 0.0);
        assert_eq!(p.frequency_penalty, 0.0);
        assert_eq!(p.repeat_last_n, 64);
        assert_eq!(p.seed, 0);
        assert!(SamplingParams::greedy().validate().is_ok());
    }

    #[test]
    fn invalid_values_name_the_parameter() {
        let d = SamplingParams::default();
        let table: Vec<(SamplingParams, &str)> = vec![
            (
                SamplingParams {
                    top_p: 0.0,
                    ..d.clone()
                },
                "`top_p` must be in (0, 1], got 0",
            ),
            (
                SamplingParams {
                    top_p: 1.5,
                    ..d.clone()
                },
                "`top_p` must be in (0, 1], got 1.5",
            ),
            (
                SamplingParams {
                    top_p: f32::NAN,
                    ..d.clone()
                },
                "`top_p` must be in (0, 1], got NaN",
            ),
            (
                SamplingParams {
                    temperature: -0.5,
                    ..d.clone()
                },
                "`temperature` must be a finite number >= 0, got -0.5",
            ),
            (
                SamplingParams {
                    temperature: f32::NAN,
                    ..d.clone()
                },
                "`temperature` must be a finite number >= 0, got NaN",
            ),
            (
                SamplingParams {
                    temperature: f32::INFINITY,
                    ..d.clone()
                },
                "`temperature` must be a finite number >= 0, got inf",
            ),
            (
                SamplingParams {
                    min_p: 1.0,
                    ..d.clone()
                },
                "`min_p` must be in [0, 1), got 1",
            ),
            (
                SamplingParams {
                    min_p: -0.1,
                    ..d.clone()
                },
                "`min_p` must be in [0, 1), got -0.1",
            ),
            (
                SamplingParams {
                    repeat_penalty: 0.0,
                    ..d.clone()
                },
                "`repeat_penalty` must be a finite number > 0, got 0",
            ),
            (
                SamplingParams {
                    repeat_penalty: -1.0,
                    ..d.clone()
                },
                "`repeat_penalty` must be a finite number > 0, got -1",
            ),
            (
                SamplingParams {
                    presence_penalty: f32::NAN,
                    ..d.clone()
                },
                "`presence_penalty` must be a finite number, got NaN",
            ),
            (
                SamplingParams {
                    frequency_penalty: f32::NEG_INFINITY,
                    ..d.clone()
                },
                "`frequency_penalty` must be a finite number, got -inf",
            ),
        ];
        for (params, expected) in &table {
            assert_eq!(err_text(params), *expected, "params: {params:?}");
        }
    }

    #[test]
    fn boundary_values_are_accepted() {
        let d = SamplingParams::default();
        let ok = [
            SamplingParams {
                top_p: 1.0,
                ..d.clone()
            },
            SamplingParams {
                min_p: 0.0,
                ..d.clone()
            },
            SamplingParams {
                temperature: 0.0,
                ..d.clone()
            },
            SamplingParams {
                top_k: 0,
                repeat_last_n: 0,
                ..d.clone()
            },
            SamplingParams {
                presence_penalty: -2.0,
                frequency_penalty: 2.0,
                ..d.clone()
            },
        ];
        for p in &ok {
            assert!(p.validate().is_ok(), "{p:?}");
        }
    }
}
