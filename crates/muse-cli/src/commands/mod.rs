pub mod bench;
pub mod embed;
pub mod generate;
pub mod kb;
pub mod models;
pub mod moderate;
pub mod score;
