//! Shapes shared by several endpoints: one-or-many inputs, token usage, the sampling fields.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};

/// A string or a list of strings (`stop`, `input`, `prompt`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(s) => vec![s],
            Self::Many(v) => v,
        }
    }
}

/// Token counts of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    pub total_tokens: usize,
}

impl Usage {
    pub fn new(prompt_tokens: usize, completion_tokens: usize) -> Self {
        Self {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
        }
    }
}

/// The generation fields common to chat and text completions.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct SamplingFields {
    pub n: Option<u64>,
    pub max_tokens: Option<u64>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub stop: Option<OneOrMany>,
    pub seed: Option<i64>,
    pub presence_penalty: Option<f64>,
    pub frequency_penalty: Option<f64>,
    #[serde(default)]
    pub stream: bool,
    pub stream_options: Option<StreamOptions>,
}

/// `stream_options`: an object (serde's derive would also take an array for a struct).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamOptions {
    pub include_usage: bool,
}

impl<'de> Deserialize<'de> for StreamOptions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Fields {
            #[serde(default)]
            include_usage: bool,
        }
        let map = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
        let f: Fields =
            serde_json::from_value(serde_json::Value::Object(map)).map_err(D::Error::custom)?;
        Ok(Self {
            include_usage: f.include_usage,
        })
    }
}

fn integral(n: &serde_json::Number) -> Option<f64> {
    n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
}

/// An optional non-negative integer, also written as a float without fraction (`2.0`: JSON
/// Schema counts it as an integer).
pub fn opt_uint<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    if let Some(u) = n.as_u64() {
        return Ok(Some(u));
    }
    match integral(&n) {
        Some(f) if f >= 0.0 => Ok(Some(f as u64)),
        _ => Err(D::Error::custom(format!(
            "expected a non-negative integer, got {n}"
        ))),
    }
}

/// An optional integer (`seed`), also written as a float without fraction; integers above
/// `i64::MAX` keep their bits.
pub fn opt_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    if let Some(i) = n.as_i64() {
        return Ok(Some(i));
    }
    if let Some(u) = n.as_u64() {
        return Ok(Some(u as i64));
    }
    integral(&n)
        .map(|f| Some(f as i64))
        .ok_or_else(|| D::Error::custom(format!("expected an integer, got {n}")))
}
