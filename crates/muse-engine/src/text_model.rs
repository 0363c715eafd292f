//! A text model ready to run: weights, tokenizer and chat template, from one GGUF file or a
//! Hugging Face model folder (`config.json`, `tokenizer.json`, safetensors weights).

use crate::causal::CausalLm;
use crate::chat::{ChatMessage, ChatTemplate};
use crate::error::EngineError;
use muse_models::{GgufFile, Gpt2, Llama, ModelError, TextTokenizer};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A loaded language model.
pub struct TextModel {
    pub(crate) lm: CausalLm,
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
    /// Load a model: a GGUF file, or a Hugging Face folder of `GPT2LMHeadModel`,
    /// `LlamaForCausalLM` or `Qwen2ForCausalLM`.
    pub fn load(path: &Path) -> Result<Self, EngineError> {
        if path.is_dir() {
            Self::load_hf_dir(path)
        } else {
            Self::load_gguf(path)
        }
    }

    /// Load a Hugging Face model folder.
    pub fn load_hf_dir(dir: &Path) -> Result<Self, EngineError> {
        let t0 = Instant::now();
        let arch = muse_models::llama_hf::hf_architecture(dir)?;
        let tokenizer = TextTokenizer::from_hf_dir(dir)?;
        let template = match muse_models::hf_chat_template(dir)? {
            Some(src) => Some(ChatTemplate::new(&src)?),
            None => None,
        };
        let lm = match arch.as_str() {
            "GPT2LMHeadModel" => CausalLm::Gpt2(Gpt2::from_dir(dir)?),
            a if muse_models::llama_hf::HF_ARCHITECTURES.contains(&a) => {
                CausalLm::Llama(Llama::from_hf_dir(dir)?)
            }
            other => {
                return Err(ModelError::UnsupportedArchitecture {
                    arch: other.to_string(),
                    supported: format!(
                        "GPT2LMHeadModel, {}",
                        muse_models::llama_hf::HF_ARCHITECTURES.join(", ")
                    ),
                }
                .into());
            }
        };
        if tokenizer.vocab_size() > lm.vocab() {
            return Err(ModelError::Config(format!(
                "the tokenizer has {} tokens but the model only {}",
                tokenizer.vocab_size(),
                lm.vocab()
            ))
            .into());
        }
        let name = dir
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Self {
            lm,
            tokenizer,
            template,
            name,
            path: dir.to_path_buf(),
            load_ms: t0.elapsed().as_secs_f64() * 1e3,
        })
    }

    /// Load a GGUF model: map it, check every tensor, rebuild the tokenizer, compile the template.
    pub fn load_gguf(path: &Path) -> Result<Self, EngineError> {
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
            lm: CausalLm::Llama(llama),
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

    /// The language model.
    pub fn lm(&self) -> &CausalLm {
        &self.lm
    }

    /// Exact f32 activations instead of the quantized kernels (see `Llama::set_exact_f32`); applies
    /// to generations started afterwards.
    pub fn set_exact_f32(&mut self, exact: bool) {
        self.lm.set_exact_f32(exact);
    }

    /// Context length in tokens.
    pub fn context(&self) -> usize {
        self.lm.context()
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
