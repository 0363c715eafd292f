//! The HTTP handlers, one file per endpoint family.

pub mod chat;
pub mod completions;
pub mod embeddings;
pub mod info;
pub mod quality;
pub mod run;
