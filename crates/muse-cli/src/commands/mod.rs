pub mod bench;
pub mod create;
pub mod embed;
pub mod eval;
pub mod generate;
pub mod models;
pub mod moderate;
pub mod score;
