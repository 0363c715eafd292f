use crate::home::read_utf8;
use anyhow::{Context, Result};
use muse_safety::{ContentFilter, FilterChain, SafetyConfig, Stage};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["text", "file"])))]
pub struct Args {
    /// Text to screen.
    #[arg(long)]
    text: Option<String>,
    /// UTF-8 file to screen.
    #[arg(long)]
    file: Option<PathBuf>,
    /// Where the text comes from: a prompt, a generated answer, or a retrieved document
    /// (prompt-injection markers are neutralised only in retrieved documents).
    #[arg(long, value_enum, default_value = "input")]
    stage: StageArg,
    /// Configuration file with a `[safety]` table (default: ./muse.toml when it exists).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Print the verdict as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum StageArg {
    Input,
    Output,
    Retrieved,
}

fn config(path: Option<&Path>) -> Result<SafetyConfig> {
    let default = Path::new("muse.toml");
    match path {
        Some(p) => SafetyConfig::from_file(p).with_context(|| format!("reading {}", p.display())),
        None if default.is_file() => {
            SafetyConfig::from_file(default).context("reading ./muse.toml")
        }
        None => Ok(SafetyConfig::default()),
    }
}

pub fn run(a: Args) -> Result<()> {
    let text = match (a.text, a.file) {
        (Some(t), _) => t,
        (_, Some(f)) => read_utf8(&f)?,
        _ => anyhow::bail!("give --text or --file"),
    };
    let stage = match a.stage {
        StageArg::Input => Stage::Input,
        StageArg::Output => Stage::Output,
        StageArg::Retrieved => Stage::Retrieved,
    };
    let chain = FilterChain::from_config(&config(a.config.as_deref())?)?;
    let verdict = chain.check_text(&text, stage)?;
    let mut out = std::io::stdout().lock();
    if a.json {
        writeln!(out, "{}", serde_json::to_string(&verdict)?)?;
    } else {
        let cats: Vec<String> = verdict
            .categories
            .iter()
            .map(|(k, v)| format!("{k} {v:.2}"))
            .collect();
        writeln!(
            out,
            "{}{}",
            verdict.action.as_str(),
            if cats.is_empty() {
                String::new()
            } else {
                format!(" ({})", cats.join(", "))
            }
        )?;
        if let Some(r) = &verdict.redacted_text {
            writeln!(out, "{r}")?;
        }
    }
    Ok(())
}
