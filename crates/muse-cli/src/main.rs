//! `muse`: local, quality-checked content generation. This binary is thin glue: clap parses,
//! the library crates do the work, and every error ends as one line on stderr with exit code 1.

mod commands;
mod home;
mod quality;
mod safety;

use clap::error::ErrorKind;
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
    /// The whole pipeline: understand a request, generate best-of-N, check, score, screen.
    Create(commands::create::Args),
    /// Generate text from a prompt, streamed to stdout.
    Generate(commands::generate::Args),
    /// Per-token log-probabilities and perplexity of a text under a model.
    Score(commands::score::Args),
    /// List the installed models.
    Models(commands::models::Args),
    /// Measure prefill and decode speed (like llama-bench).
    Bench(commands::bench::Args),
    /// Sentence embeddings (unit-length vectors) from a sentence-transformers model.
    Embed(commands::embed::Args),
    /// Score a text as an answer to a prompt: coherence, fluency, relevance, creativity, overall.
    Eval(commands::eval::Args),
    /// Screen a text (policy rules, personal data, prompt injection, toxicity) or an image (NSFW).
    Moderate(commands::moderate::Args),
    /// Knowledge bases for retrieval: add, search, list, stats, remove, drop.
    Kb(commands::kb::Args),
    /// Serve the OpenAI-compatible HTTP API and the web playground.
    Serve(commands::serve::Args),
    /// Train Muse's own models: the text-to-image diffusion model, the image classifier.
    Train(commands::train::Args),
    /// Generate images with a diffusion model (diffusers folder).
    Image(commands::image::Args),
}

/// candle sizes the parallelism of each matrix product from `RAYON_NUM_THREADS`, and when that is
/// unset it re-reads /proc/cpuinfo on every product (measured: ~2 ms a token on SmolLM2, see
/// shared/MEASUREMENTS.md). Set it once, to the size of our own pool, before any thread starts.
fn pin_candle_threads(threads: Option<usize>) {
    let n = match threads {
        Some(n) => n.max(1),
        None if std::env::var_os("RAYON_NUM_THREADS").is_some() => return,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    // SAFETY: called first thing in `main`, while this is the only thread of the process.
    unsafe { std::env::set_var("RAYON_NUM_THREADS", n.to_string()) };
}

/// glibc returns every freed block over its mmap threshold to the kernel, so each large tensor
/// a UNet step allocates is page-faulted in anew: measured, a third of a training step's time
/// in the kernel. Keep blocks up to 32 MiB (glibc's ceiling for the threshold) on the heap and
/// never trim it.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_memory() {
    // SAFETY: mallopt only changes allocator parameters; called before any other thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_freed_memory() {}

/// candle runs element-wise ops on its own spinning thread pool; while a training step's
/// convolutions already use every core (and on a loaded machine), the spinning cost more than the
/// parallel element-wise ops gained (perf: 18% of a step in `BarrierGuard::drop`). Training
/// keeps element-wise ops on one thread unless `CANDLE_NUM_THREADS` says otherwise.
fn serial_elementwise_ops() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        // SAFETY: called first thing in `main`, while this is the only thread of the process.
        unsafe { std::env::set_var("CANDLE_NUM_THREADS", "1") };
    }
}

/// candle's element-wise pool spins 25,000 rounds after every op before parking. In a UNet
/// forward the convolutions run on rayon between those ops, so on two cores the spinning worker
/// took a core from them (perf: 19% of a 50-forward run in the pool's idle loop). Parking at once
/// took the cifar10-size UNet from 123 to ≈ 98 ms a forward (`examples/bench_unet2d`).
fn park_elementwise_pool() {
    if std::env::var_os("CANDLE_BARRIER_POOL_SPIN_LIMIT").is_none() {
        // SAFETY: called first thing in `main`, while this is the only thread of the process.
        unsafe { std::env::set_var("CANDLE_BARRIER_POOL_SPIN_LIMIT", "0") };
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    pin_candle_threads(cli.threads);
    keep_freed_memory();
    if matches!(cli.command, Command::Train(_)) {
        serial_elementwise_ops();
    }
    if matches!(cli.command, Command::Image(_)) {
        park_elementwise_pool();
    }
    if let Some(n) = cli.threads
        && let Err(e) = rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build_global()
    {
        eprintln!("error: cannot start {n} threads: {e}");
        return ExitCode::FAILURE;
    }
    let result = match cli.command {
        Command::Create(a) => commands::create::run(a),
        Command::Generate(a) => commands::generate::run(a),
        Command::Score(a) => commands::score::run(a),
        Command::Models(a) => commands::models::run(a),
        Command::Bench(a) => commands::bench::run(a),
        Command::Embed(a) => commands::embed::run(a),
        Command::Moderate(a) => commands::moderate::run(a),
        Command::Train(a) => commands::train::run(a),
        Command::Eval(a) => commands::eval::run(a),
        Command::Kb(a) => commands::kb::run(a),
        Command::Serve(a) => commands::serve::run(a),
        Command::Image(a) => commands::image::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // Output piped into a program that stopped reading (`muse … | head`): not an error.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Help and version print as clap renders them; a usage mistake becomes the one-line error every
/// other failure is (clap's first line names the problem), with clap's exit code 2.
fn usage_error(e: clap::Error) -> ExitCode {
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit();
    }
    let text = e.to_string();
    eprintln!(
        "{}",
        text.lines().next().unwrap_or("error: invalid arguments")
    );
    ExitCode::from(2)
}
