//! Server settings: the `[server]` table of `muse.toml`, overridden by command-line flags.

use serde::Deserialize;
use std::time::Duration;

/// Limits and switches of the HTTP layer. Missing fields take the defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub host: String,
    pub port: u16,
    /// Accepted `Authorization: Bearer` keys; empty = no authentication.
    pub api_keys: Vec<String>,
    /// Largest request body, bytes (413 above).
    pub max_body_bytes: usize,
    /// Seconds a request may take until its response starts (408 after; a started stream is
    /// not cut).
    pub request_timeout_s: u64,
    /// Seconds a client may take to send its request headers (the connection is closed after).
    pub header_timeout_s: u64,
    /// Largest `n`.
    pub max_n: usize,
    /// Largest `max_tokens` / `max_completion_tokens`.
    pub max_tokens: usize,
    /// `max_tokens` of a chat request that gives none.
    pub default_max_tokens: usize,
    /// Requests that may wait for the model worker (429 beyond).
    pub queue_capacity: usize,
    /// Largest number of inputs in one embeddings or moderations request.
    pub max_inputs: usize,
    /// Largest `n` of an image request.
    pub max_images: usize,
    /// Most denoising steps an image request may ask for.
    pub max_image_steps: usize,
    /// Generated images kept for `response_format: "url"` (the oldest are dropped first).
    pub stored_images: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 8080,
            api_keys: Vec::new(),
            max_body_bytes: 2 * 1024 * 1024,
            request_timeout_s: 300,
            header_timeout_s: 10,
            max_n: 8,
            max_tokens: 2048,
            default_max_tokens: 256,
            queue_capacity: 64,
            max_inputs: 256,
            max_images: 4,
            max_image_steps: 250,
            stored_images: 256,
        }
    }
}

/// A `muse.toml` that could not be used.
#[derive(Debug, thiserror::Error)]
#[error("[server] config: {0}")]
pub struct ConfigError(String);

#[derive(Deserialize, Default)]
struct File {
    #[serde(default)]
    server: ServerConfig,
}

impl ServerConfig {
    /// The `[server]` table of a whole `muse.toml` (other tables are ignored).
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        let table: toml::Table = toml::from_str(text).map_err(|e| ConfigError(e.to_string()))?;
        let Some(server) = table.get("server") else {
            return Ok(Self::default());
        };
        let file: File = toml::Value::Table(toml::Table::from_iter([(
            "server".to_string(),
            server.clone(),
        )]))
        .try_into()
        .map_err(|e: toml::de::Error| ConfigError(e.to_string()))?;
        file.server.validate()?;
        Ok(file.server)
    }

    /// Every limit must be at least 1.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (name, v) in [
            ("max_body_bytes", self.max_body_bytes),
            ("max_n", self.max_n),
            ("max_tokens", self.max_tokens),
            ("default_max_tokens", self.default_max_tokens),
            ("queue_capacity", self.queue_capacity),
            ("max_inputs", self.max_inputs),
            ("max_images", self.max_images),
            ("max_image_steps", self.max_image_steps),
            ("stored_images", self.stored_images),
            ("request_timeout_s", self.request_timeout_s as usize),
            ("header_timeout_s", self.header_timeout_s as usize),
        ] {
            if v == 0 {
                return Err(ConfigError(format!("`{name}` must be at least 1")));
            }
        }
        Ok(())
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_s)
    }

    pub fn header_timeout(&self) -> Duration {
        Duration::from_secs(self.header_timeout_s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_server_table_and_keeps_defaults() {
        let c = ServerConfig::from_toml_str("[safety]\nx = 1\n[server]\nport = 9000\nmax_n = 2\n");
        let Ok(c) = c else { panic!("{c:?}") };
        assert_eq!(c.port, 9000);
        assert_eq!(c.max_n, 2);
        assert_eq!(c.max_tokens, ServerConfig::default().max_tokens);
        assert!(ServerConfig::from_toml_str("[server]\nmax_n = 0\n").is_err());
        assert!(ServerConfig::from_toml_str("[server]\nbogus = 1\n").is_err());
    }
}
