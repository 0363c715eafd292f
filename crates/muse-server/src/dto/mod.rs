//! Request and response bodies with the field names of OpenAI's API. Requests ignore fields they
//! do not know (clients send extras such as `user`); every known field is checked in
//! [`crate::validate`].

pub mod chat;
pub mod common;
pub mod completions;
pub mod embeddings;
pub mod images;
pub mod kb;
pub mod misc;
