//! Byte-level BPE tokenizers rebuilt from GGUF metadata.
//!
//! A GGUF file carries its vocabulary (`tokenizer.ggml.tokens`, `token_type`), its BPE merges and the
//! name of its pre-tokenizer (`tokenizer.ggml.pre`). We rebuild an HF `tokenizers` pipeline from
//! those: the BPE model, the pre-tokenizer regex llama.cpp uses for that name (`llama-vocab.cpp`),
//! and the control tokens as special added tokens so chat markers such as `<|im_start|>` stay single
//! tokens. Parity with llama.cpp's own tokenizer is tested on the fixture texts.
//!
//! Decoding goes through a per-token byte table (GPT-2's byte↔unicode alphabet reversed), which is
//! what streaming needs: a multi-byte character split across tokens is only emitted once complete.

use crate::error::ModelError;
use crate::gguf::GgufFile;
use std::collections::HashMap;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, PreTokenizerWrapper, SplitDelimiterBehavior, Tokenizer};

/// GGUF token types (`llama_token_type`).
const TYPE_CONTROL: i64 = 3;
const TYPE_USER_DEFINED: i64 = 4;

/// Llama 3's pre-tokenizer split (llama.cpp `LLAMA_VOCAB_PRE_TYPE_LLAMA3`).
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2's: as Llama 3's but one digit at a time.
const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// llama.cpp's default pre-tokenizer (`LLAMA_VOCAB_PRE_TYPE_DEFAULT`): punctuation runs, the
/// GPT-2 split, digit runs, then groups of three digits.
const DEFAULT_SPLITS: [&str; 4] = [
    r"[\p{P}\$\+<=>\^~\|]+",
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)",
    r"\p{N}+",
    r"[0-9][0-9][0-9]",
];

/// Turn-end markers of the common chat formats, which end generation (llama.cpp's
/// `special_eog_ids` does the same).
const TURN_END: &[&str] = &[
    "<|im_end|>",
    "<|eot_id|>",
    "<|end|>",
    "<end_of_turn>",
    "<|eom_id|>",
];

const SUPPORTED_PRE: &str = "default, gpt2, smollm, llama3 (llama-bpe), qwen2";

/// A tokenizer rebuilt from a GGUF file.
pub struct TextTokenizer {
    inner: Tokenizer,
    tokens: Vec<String>,
    pieces: Vec<Vec<u8>>,
    bos: Option<u32>,
    eos: Option<u32>,
    add_bos: bool,
    eog: Vec<u32>,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTokenizer")
            .field("vocab", &self.tokens.len())
            .field("bos", &self.bos)
            .finish()
    }
}

/// GPT-2's reversible byte → printable-char alphabet, inverted.
fn unicode_to_byte() -> HashMap<char, u8> {
    let mut map = HashMap::with_capacity(256);
    let mut extra = 0u32;
    for b in 0u32..256 {
        let printable =
            (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
        let c = if printable {
            b
        } else {
            extra += 1;
            255 + extra
        };
        if let Some(c) = char::from_u32(c) {
            map.insert(c, b as u8);
        }
    }
    map
}

fn tok_err(e: impl std::fmt::Display) -> ModelError {
    ModelError::Tokenizer(e.to_string())
}

/// A token given in `tokenizer_config.json` as a string or as `{"content": …}`.
fn config_token(v: Option<&serde_json::Value>) -> Option<String> {
    match v? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Object(o) => o.get("content")?.as_str().map(str::to_string),
        _ => None,
    }
}

/// Token ids given as one number or a list (`eos_token_id` in config.json, generation_config.json).
fn config_ids(v: Option<&serde_json::Value>) -> Vec<u32> {
    match v {
        Some(serde_json::Value::Number(n)) => n
            .as_u64()
            .and_then(|x| u32::try_from(x).ok())
            .into_iter()
            .collect(),
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_u64().and_then(|x| u32::try_from(x).ok()))
            .collect(),
        _ => Vec::new(),
    }
}

/// A JSON file of a model folder, or `Null` when it does not exist.
fn optional_json(dir: &std::path::Path, name: &str) -> Result<serde_json::Value, ModelError> {
    let path = dir.join(name);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| ModelError::Corrupt {
            path,
            what: format!("invalid JSON ({e})"),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(serde_json::Value::Null),
        Err(source) => Err(ModelError::Io { path, source }),
    }
}

/// The chat template of a Hugging Face model folder: `chat_template.jinja` (transformers 5), else
/// `chat_template` in `tokenizer_config.json` (a string, or a list of named templates of which
/// `default` is taken).
pub fn hf_chat_template(dir: &std::path::Path) -> Result<Option<String>, ModelError> {
    let file = dir.join("chat_template.jinja");
    if file.is_file() {
        return std::fs::read_to_string(&file)
            .map(Some)
            .map_err(|source| ModelError::Io { path: file, source });
    }
    let cfg = optional_json(dir, "tokenizer_config.json")?;
    Ok(match cfg.get("chat_template") {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Array(list)) => list
            .iter()
            .find(|t| t.get("name").and_then(|n| n.as_str()) == Some("default"))
            .or_else(|| list.first())
            .and_then(|t| t.get("template"))
            .and_then(|t| t.as_str())
            .map(str::to_string),
        _ => None,
    })
}

impl TextTokenizer {
    /// Load `tokenizer.json` of a Hugging Face model folder, with BOS/EOS from
    /// `tokenizer_config.json`, `config.json` and `generation_config.json`. Byte-level BPE
    /// (GPT-2, Llama 3, Qwen2) and SentencePiece-style vocabularies (`▁` for spaces, `<0xNN>`
    /// byte tokens) are both decoded byte-exactly for streaming.
    pub fn from_hf_dir(dir: &std::path::Path) -> Result<Self, ModelError> {
        let path = dir.join("tokenizer.json");
        if !path.is_file() {
            return Err(ModelError::MissingFile {
                path,
                what: "the tokenizer (tokenizer.json)",
            });
        }
        let mut inner = Tokenizer::from_file(&path)
            .map_err(|e| ModelError::Tokenizer(format!("{}: {e}", path.display())))?;
        inner.with_padding(None);
        inner.with_truncation(None).map_err(tok_err)?;
        let vocab = inner.get_vocab(true);
        let size = vocab.values().map(|&i| i as usize + 1).max().unwrap_or(0);
        let mut tokens = vec![String::new(); size];
        for (t, &i) in &vocab {
            tokens[i as usize] = t.clone();
        }
        let added = inner.get_added_tokens_decoder();
        let byte_level = matches!(
            inner.get_decoder(),
            Some(tokenizers::DecoderWrapper::ByteLevel(_))
        );
        let byte_of = unicode_to_byte();
        let pieces: Vec<Vec<u8>> = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| {
                if let Some(a) = added.get(&(i as u32)) {
                    return if a.special {
                        Vec::new()
                    } else {
                        t.as_bytes().to_vec()
                    };
                }
                if let Some(hex) = t.strip_prefix("<0x").and_then(|h| h.strip_suffix('>'))
                    && let Ok(b) = u8::from_str_radix(hex, 16)
                {
                    return vec![b];
                }
                if byte_level {
                    t.chars()
                        .map(|c| byte_of.get(&c).copied().unwrap_or(b'?'))
                        .collect()
                } else {
                    t.replace('\u{2581}', " ").into_bytes()
                }
            })
            .collect();
        let tcfg = optional_json(dir, "tokenizer_config.json")?;
        let mcfg = optional_json(dir, "config.json")?;
        let gcfg = optional_json(dir, "generation_config.json")?;
        let by_name = |k: &str| config_token(tcfg.get(k)).and_then(|t| inner.token_to_id(&t));
        let bos =
            by_name("bos_token").or_else(|| config_ids(mcfg.get("bos_token_id")).first().copied());
        let eos =
            by_name("eos_token").or_else(|| config_ids(mcfg.get("eos_token_id")).first().copied());
        let add_bos = match tcfg.get("add_bos_token").and_then(|v| v.as_bool()) {
            Some(b) => b,
            // No explicit flag: add BOS exactly when the tokenizer's own post-processor would
            // (probed on the empty text, which has no content token that could equal BOS).
            None => bos.is_some_and(|b| {
                inner
                    .encode("", true)
                    .is_ok_and(|e| e.get_ids().first() == Some(&b))
            }),
        };
        let mut eog: Vec<u32> = eos.into_iter().collect();
        for id in config_ids(gcfg.get("eos_token_id"))
            .into_iter()
            .chain(config_ids(mcfg.get("eos_token_id")))
        {
            if !eog.contains(&id) {
                eog.push(id);
            }
        }
        for (&id, a) in &added {
            let turn_end = TURN_END.contains(&a.content.as_str());
            if a.special && turn_end && !eog.contains(&id) {
                eog.push(id);
            }
        }
        Ok(Self {
            inner,
            tokens,
            pieces,
            bos,
            eos,
            add_bos,
            eog,
        })
    }

    pub fn from_gguf(g: &GgufFile) -> Result<Self, ModelError> {
        let model = g.get_str("tokenizer.ggml.model")?;
        if model != "gpt2" {
            return Err(ModelError::Tokenizer(format!(
                "tokenizer model `{model}` is not supported yet (supported: gpt2 byte-level BPE)"
            )));
        }
        let tokens: Vec<String> = g
            .get("tokenizer.ggml.tokens")
            .and_then(|v| v.as_array())
            .ok_or_else(|| ModelError::MissingKey {
                key: "tokenizer.ggml.tokens".into(),
            })?
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .collect();
        let types: Vec<i64> = match g
            .get("tokenizer.ggml.token_type")
            .and_then(|v| v.as_array())
        {
            Some(a) => a.iter().map(|v| v.as_f64().unwrap_or(1.0) as i64).collect(),
            None => vec![1; tokens.len()],
        };
        let merges: Vec<(String, String)> = g
            .get("tokenizer.ggml.merges")
            .and_then(|v| v.as_array())
            .ok_or_else(|| ModelError::MissingKey {
                key: "tokenizer.ggml.merges".into(),
            })?
            .iter()
            .filter_map(|v| v.as_str())
            .filter_map(|m| {
                m.split_once(' ')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
            })
            .collect();
        let vocab: tokenizers::models::bpe::Vocab = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        let pre = g
            .get("tokenizer.ggml.pre")
            .and_then(|v| v.as_str())
            .unwrap_or("default");
        let llama3 = matches!(pre, "llama3" | "llama-bpe" | "llama-v3");
        // Llama 3's tokenizer takes a whole word from the vocabulary before trying merges
        // (HF `ignore_merges`, llama.cpp `ignore_merges` for this pre-tokenizer).
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .ignore_merges(llama3)
            .build()
            .map_err(tok_err)?;
        let mut inner = Tokenizer::new(bpe);

        let pre = g
            .get("tokenizer.ggml.pre")
            .and_then(|v| v.as_str())
            .unwrap_or("default");
        let byte_level =
            |regex: bool| PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, false, regex));
        let split = |re: &str| -> Result<PreTokenizerWrapper, ModelError> {
            let s = Split::new(
                SplitPattern::Regex(re.into()),
                SplitDelimiterBehavior::Isolated,
                false,
            )
            .map_err(tok_err)?;
            Ok(PreTokenizerWrapper::Split(s))
        };
        let pre_tok = match pre {
            "gpt2" | "gpt-2" => byte_level(true),
            // llama.cpp's fallback: four splits applied in turn, then byte-level mapping.
            "default" => PreTokenizerWrapper::Sequence(Sequence::new(
                DEFAULT_SPLITS
                    .iter()
                    .map(|re| split(re))
                    .chain([Ok(byte_level(false))])
                    .collect::<Result<_, _>>()?,
            )),
            "smollm" => PreTokenizerWrapper::Sequence(Sequence::new(vec![
                PreTokenizerWrapper::Digits(Digits::new(true)),
                byte_level(true),
            ])),
            "llama3" | "llama-bpe" | "llama-v3" => {
                PreTokenizerWrapper::Sequence(Sequence::new(vec![
                    split(LLAMA3_SPLIT)?,
                    byte_level(false),
                ]))
            }
            "qwen2" => PreTokenizerWrapper::Sequence(Sequence::new(vec![
                split(QWEN2_SPLIT)?,
                byte_level(false),
            ])),
            other => {
                return Err(ModelError::Tokenizer(format!(
                    "pre-tokenizer `{other}` is not supported (supported: {SUPPORTED_PRE})"
                )));
            }
        };
        inner.with_pre_tokenizer(Some(pre_tok));
        inner.with_decoder(Some(ByteLevel::default()));

        let mut special = Vec::new();
        let mut user = Vec::new();
        for (t, ty) in tokens.iter().zip(&types) {
            match *ty {
                TYPE_CONTROL => special.push(AddedToken::from(t.clone(), true)),
                TYPE_USER_DEFINED => user.push(AddedToken::from(t.clone(), false)),
                _ => {}
            }
        }
        inner.add_special_tokens(special).map_err(tok_err)?;
        inner.add_tokens(user).map_err(tok_err)?;

        let byte_of = unicode_to_byte();
        let pieces = tokens
            .iter()
            .zip(types.iter().chain(std::iter::repeat(&1)))
            .map(|(t, &ty)| match ty {
                TYPE_CONTROL => Vec::new(),
                TYPE_USER_DEFINED => t.as_bytes().to_vec(),
                _ => t
                    .chars()
                    .map(|c| byte_of.get(&c).copied().unwrap_or(b'?'))
                    .collect(),
            })
            .collect();

        let id = |key: &str| {
            g.get(key)
                .and_then(|v| v.as_u64())
                .and_then(|v| u32::try_from(v).ok())
        };
        let bos = id("tokenizer.ggml.bos_token_id");
        let eos = id("tokenizer.ggml.eos_token_id");
        // Llama 3 vocabularies add BOS unless the file says otherwise (llama.cpp's rule).
        let add_bos = g
            .get("tokenizer.ggml.add_bos_token")
            .and_then(|v| v.as_bool())
            .unwrap_or(llama3);
        // End-of-generation: EOS, EOT, and the turn-end markers of the common chat formats (as
        // llama.cpp's `special_eog_ids`).
        let mut eog: Vec<u32> = [
            eos,
            id("tokenizer.ggml.eot_token_id"),
            id("tokenizer.ggml.eom_token_id"),
        ]
        .into_iter()
        .flatten()
        .collect();
        for (i, (t, &ty)) in tokens.iter().zip(&types).enumerate() {
            // GGUF files of base models mark `<|endoftext|>` as control; it ends generation too.
            let turn_end = TURN_END.contains(&t.as_str()) || t == "<|endoftext|>";
            if ty == TYPE_CONTROL && turn_end && !eog.contains(&(i as u32)) {
                eog.push(i as u32);
            }
        }
        Ok(Self {
            inner,
            tokens,
            pieces,
            bos,
            eos,
            add_bos,
            eog,
        })
    }

    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    /// Encode text; control tokens written in the text (e.g. `<|im_start|>`) become their ids.
    /// A BOS token is prepended when the model's metadata asks for it.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, ModelError> {
        let enc = self.inner.encode(text, false).map_err(tok_err)?;
        let mut ids = Vec::with_capacity(enc.len() + 1);
        // A chat template that writes `{{ bos_token }}` itself already produced it: never two.
        if self.add_bos
            && let Some(b) = self.bos
            && enc.get_ids().first() != Some(&b)
        {
            ids.push(b);
        }
        ids.extend_from_slice(enc.get_ids());
        Ok(ids)
    }

    /// The bytes token `id` stands for (control tokens: none).
    pub fn piece_bytes(&self, id: u32) -> &[u8] {
        self.pieces
            .get(id as usize)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Decode ids to text, skipping control tokens; invalid UTF-8 becomes U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> String {
        let bytes: Vec<u8> = ids
            .iter()
            .flat_map(|&i| self.piece_bytes(i).iter().copied())
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The vocabulary string of a token (as stored in the file).
    pub fn token_text(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    pub fn bos(&self) -> Option<u32> {
        self.bos
    }

    pub fn eos(&self) -> Option<u32> {
        self.eos
    }

    pub fn adds_bos(&self) -> bool {
        self.add_bos
    }

    /// Whether `id` ends generation.
    pub fn is_eog(&self, id: u32) -> bool {
        self.eog.contains(&id)
    }
}
