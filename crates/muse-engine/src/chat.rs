//! Chat prompts rendered with the model's own Jinja template (`tokenizer.chat_template` in GGUF,
//! `chat_template` in HF's tokenizer_config.json) through minijinja, with Python string methods
//! (`.strip()`, `.startswith()` …) enabled as HF templates expect them.

use crate::error::EngineError;
use minijinja::{Environment, Error, ErrorKind, context};
use serde::Serialize;

/// One chat turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: &str, content: &str) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// A compiled chat template.
pub struct ChatTemplate {
    env: Environment<'static>,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChatTemplate")
    }
}

fn raise_exception(msg: String) -> Result<String, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, msg))
}

impl ChatTemplate {
    pub fn new(source: &str) -> Result<Self, EngineError> {
        let mut env = Environment::new();
        minijinja_contrib::add_to_environment(&mut env);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        env.add_template_owned("chat", source.to_string())
            .map_err(|e| EngineError::Template(e.to_string()))?;
        Ok(Self { env })
    }

    /// Render `messages`, ending with the assistant's turn opener when `add_generation_prompt`.
    pub fn render(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
        bos_token: &str,
        eos_token: &str,
    ) -> Result<String, EngineError> {
        let tmpl = self
            .env
            .get_template("chat")
            .map_err(|e| EngineError::Template(e.to_string()))?;
        tmpl.render(context! { messages, add_generation_prompt, bos_token, eos_token })
            .map_err(|e| EngineError::Template(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SmolLM2-Instruct's template, as stored in its GGUF metadata.
    const CHATML: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    #[test]
    fn chatml_renders_default_system_and_generation_prompt() {
        let Ok(t) = ChatTemplate::new(CHATML) else {
            panic!("template compiles")
        };
        let out = t
            .render(&[ChatMessage::new("user", "Hi")], true, "", "")
            .unwrap_or_default();
        assert_eq!(
            out,
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        let sys = [
            ChatMessage::new("system", "Be brief."),
            ChatMessage::new("user", "Hi"),
        ];
        let out = t.render(&sys, false, "", "").unwrap_or_default();
        assert_eq!(
            out,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        );
    }

    #[test]
    fn python_methods_and_raise_exception_work() {
        let src = "{% if messages[0].content.strip() == '' %}{{ raise_exception('empty') }}{% endif %}{{ messages[0].content.upper() }}";
        let Ok(t) = ChatTemplate::new(src) else {
            panic!("template compiles")
        };
        assert_eq!(
            t.render(&[ChatMessage::new("user", " hi ")], false, "", "")
                .unwrap_or_default(),
            " HI "
        );
        let err = t.render(&[ChatMessage::new("user", "  ")], false, "", "");
        assert!(matches!(err, Err(EngineError::Template(m)) if m.contains("empty")));
    }

    #[test]
    fn syntax_errors_are_reported() {
        assert!(matches!(
            ChatTemplate::new("{% for %}"),
            Err(EngineError::Template(_))
        ));
    }
}
