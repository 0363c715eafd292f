//! `muse`: local, quality-checked content generation. This binary is thin glue: clap parses,
//! the library crates do the work, and every error ends as one line on stderr with exit code 1.

mod commands;
mod home;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(name = "muse", version, about = "Local content generation: text with quality checks", long_about = None)]
struct Cli {
    /// Worker threads for the model (default: all cores).
    #[arg(long, global = true, env = "MUSE_THREADS")]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Generate text from a prompt, streamed to stdout.
    Generate(commands::generate::Args),
    /// Per-token log-probabilities and perplexity of a text under a model.
    Score(commands::score::Args),
    /// List the installed models.
    Models(commands::models::Args),
    /// Measure prefill and decode speed (like llama-bench).
    Bench(commands::bench::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(n) = cli.threads
        && let Err(e) = rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build_global()
    {
        eprintln!("error: cannot start {n} threads: {e}");
        return ExitCode::FAILURE;
    }
    let result = match cli.command {
        Command::Generate(a) => commands::generate::run(a),
        Command::Score(a) => commands::score::run(a),
        Command::Models(a) => commands::models::run(a),
        Command::Bench(a) => commands::bench::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
