//! Model file formats and transformer architectures for Muse.
//!
//! * [`gguf`] — the GGUF container (llama.cpp's format): metadata and memory-mapped tensors.
//! * [`tokenizer`] — byte-level BPE tokenizers rebuilt from GGUF metadata on top of HF `tokenizers`.
//! * [`llama`] — Llama-family decoder (RoPE, RMSNorm, SwiGLU, grouped-query attention) computing on
//!   the quantized weights in place, with a preallocated KV cache.
//! * [`gpt2`] — GPT-2 decoder (learned positions, pre-norm, tanh GELU) from a Hugging Face folder,
//!   f32 on the CPU, with a KV cache.
//! * [`bert`] — BERT encoder (post-norm, exact GELU) on candle, sequences packed without padding.
//! * [`sentence_embedder`] — sentence-transformers folders: mean-pooled, L2-normalised embeddings.
//! * [`safetensors_dir`] — memory-mapped `model.safetensors` (single or sharded) for candle.
//! * [`catalog`] — what a model file or folder is (architecture, format, quantization, size).
//!
//! Models return logits; choosing tokens is `muse-sample`'s job.

pub mod bert;
mod bert_ops;
pub mod catalog;
pub mod conv_op;
mod error;
pub mod gguf;
pub mod gpt2;
pub mod group_norm_op;
pub mod llama;
pub mod llama_hf;
pub mod raw_safetensors;
pub mod safetensors_dir;
pub mod sentence_embedder;
mod step_check;
pub mod tokenizer;

pub use bert::{BertConfig, BertConfigFile, BertModel, PackedBatch};
pub use error::ModelError;
pub use gguf::GgufFile;
pub use gpt2::{Gpt2, Gpt2Cache, Gpt2Config, Gpt2HfConfig};
pub use llama::{BatchScratch, KvCache, Llama, LlamaConfig, LogitsMode, RopeStyle};
pub use sentence_embedder::{Embeddings, SentenceEmbedder, TruncatedInput};
pub use tokenizer::{TextTokenizer, hf_chat_template};
