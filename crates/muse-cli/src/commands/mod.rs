pub mod bench;
pub mod embed;
pub mod eval;
pub mod generate;
pub mod models;
pub mod moderate;
pub mod score;
pub mod serve;
