//! The HTTP handlers, one file per endpoint family.

pub mod chat;
pub mod completions;
pub mod embeddings;
pub mod images;
pub mod info;
pub mod kb;
pub mod quality;
pub mod run;
