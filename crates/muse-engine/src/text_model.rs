//! A text model ready to run: weights, tokenizer and chat template from one GGUF file.

use crate::chat::{ChatMessage, ChatTemplate};
use crate::error::EngineError;
use muse_models::{GgufFile, Llama, TextTokenizer};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A loaded language model.
pub struct TextModel {
    pub(crate) llama: Llama,
    pub(crate) tokenizer: TextTokenizer,
    template: Option<ChatTemplate>,
    name: String,
    path: PathBuf,
    load_ms: f64,
}

impl std::fmt::Debug for TextModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextModel")
            .field("name", &self.name)
            .field("path", &self.path)
            .finish()
    }
}

impl TextModel {
    /// Load a GGUF model: map it, check every tensor, rebuild the tokenizer, compile the template.
    pub fn load(path: &Path) -> Result<Self, EngineError> {
        let t0 = Instant::now();
        let gguf = GgufFile::open(path)?;
        // Name an unsupported architecture before anything else can fail on it.
        muse_models::llama::check_architecture(&gguf)?;
        let tokenizer = TextTokenizer::from_gguf(&gguf)?;
        let template = match gguf.get("tokenizer.chat_template").and_then(|v| v.as_str()) {
            Some(src) => Some(ChatTemplate::new(src)?),
            None => None,
        };
        let llama = Llama::load(gguf)?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Self {
            llama,
            tokenizer,
            template,
            name,
            path: path.to_path_buf(),
            load_ms: t0.elapsed().as_secs_f64() * 1e3,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn load_ms(&self) -> f64 {
        self.load_ms
    }

    pub fn tokenizer(&self) -> &TextTokenizer {
        &self.tokenizer
    }

    pub fn llama(&self) -> &Llama {
        &self.llama
    }

    /// Mutable access, e.g. for [`Llama::set_exact_f32`].
    pub fn llama_mut(&mut self) -> &mut Llama {
        &mut self.llama
    }

    /// Context length in tokens.
    pub fn context(&self) -> usize {
        self.llama.config().context
    }

    /// Whether the model has a chat template (an instruct model).
    pub fn has_chat_template(&self) -> bool {
        self.template.is_some()
    }

    /// Render a chat with the model's template, ready for the assistant's answer.
    /// Models without a template get the messages' contents joined by blank lines.
    pub fn render_chat(&self, messages: &[ChatMessage]) -> Result<String, EngineError> {
        let Some(t) = &self.template else {
            return Ok(messages
                .iter()
                .map(|m| m.content.as_str())
                .collect::<Vec<_>>()
                .join("\n\n"));
        };
        let text = |id: Option<u32>| {
            id.and_then(|i| self.tokenizer.token_text(i))
                .unwrap_or("")
                .to_string()
        };
        t.render(
            messages,
            true,
            &text(self.tokenizer.bos()),
            &text(self.tokenizer.eos()),
        )
    }
}
