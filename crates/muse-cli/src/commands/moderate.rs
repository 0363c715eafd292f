use crate::home::read_utf8;
use anyhow::{Context, Result, bail};
use muse_safety::{
    ContentFilter, FilterChain, ImageAction, ImageFilter, NsfwImageFilter, SafetyError, Stage,
    decode, screen_image,
};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["text", "file", "image"])))]
pub struct Args {
    /// Text to screen.
    #[arg(long)]
    text: Option<String>,
    /// UTF-8 file to screen.
    #[arg(long)]
    file: Option<PathBuf>,
    /// Image to screen with the NSFW classifier (PNG, JPEG, GIF, BMP, WebP).
    #[arg(long)]
    image: Option<PathBuf>,
    /// With --image: write the screened image here as PNG (the original, or a blurred copy
    /// when the action is `blur`; nothing is written when it is `withhold`).
    #[arg(long, requires = "image")]
    output: Option<PathBuf>,
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

fn categories_line(action: &str, categories: &std::collections::BTreeMap<String, f32>) -> String {
    let cats: Vec<String> = categories
        .iter()
        .map(|(k, v)| format!("{k} {v:.2}"))
        .collect();
    if cats.is_empty() {
        action.to_owned()
    } else {
        format!("{action} ({})", cats.join(", "))
    }
}

fn run_image(a: &Args, path: &Path) -> Result<()> {
    let cfg = crate::safety::load(a.config.as_deref())?;
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    // Typed input errors (not an image, too large) before the model is loaded.
    decode::probe(&bytes, cfg.image.limits())
        .with_context(|| format!("{} cannot be screened", path.display()))?;
    let Some(filter) = NsfwImageFilter::from_config(&cfg.image)? else {
        return Err(SafetyError::Unavailable {
            filter: "nsfw".to_owned(),
            reason: format!(
                "model `{}` does not exist (run ./setup.sh)",
                cfg.image.model.unwrap_or_default().display()
            ),
        }
        .into());
    };
    let img = decode::decode_rgb(&bytes, filter.limits())
        .with_context(|| format!("{} cannot be screened", path.display()))?;
    let screened = screen_image(&filter, img)?;
    if let Some(out) = &a.output {
        match &screened.image {
            Some(img) => img
                .save_with_format(out, muse_safety::image::ImageFormat::Png)
                .with_context(|| format!("cannot write {}", out.display()))?,
            None => {
                // Withheld: make sure no stale file suggests otherwise.
                if out.exists() {
                    std::fs::remove_file(out)
                        .with_context(|| format!("cannot remove {}", out.display()))?;
                }
            }
        }
    }
    let v = &screened.verdict;
    let mut out = std::io::stdout().lock();
    if a.json {
        writeln!(out, "{}", serde_json::to_string(v)?)?;
    } else {
        let action = match v.action {
            ImageAction::Allow => "allow",
            ImageAction::Blur => "blur",
            ImageAction::Withhold => "withhold",
        };
        writeln!(out, "{}", categories_line(action, &v.categories))?;
    }
    Ok(())
}

pub fn run(a: Args) -> Result<()> {
    if let Some(path) = a.image.clone() {
        return run_image(&a, &path);
    }
    let text = match (&a.text, &a.file) {
        (Some(t), _) => t.clone(),
        (_, Some(f)) => read_utf8(f)?,
        _ => bail!("give --text, --file or --image"),
    };
    let stage = match a.stage {
        StageArg::Input => Stage::Input,
        StageArg::Output => Stage::Output,
        StageArg::Retrieved => Stage::Retrieved,
    };
    let chain = FilterChain::from_config(&crate::safety::load(a.config.as_deref())?)?;
    let verdict = chain.check_text(&text, stage)?;
    let mut out = std::io::stdout().lock();
    if a.json {
        writeln!(out, "{}", serde_json::to_string(&verdict)?)?;
    } else {
        writeln!(
            out,
            "{}",
            categories_line(verdict.action.as_str(), &verdict.categories)
        )?;
        if let Some(r) = &verdict.redacted_text {
            writeln!(out, "{r}")?;
        }
        if !chain.skipped().is_empty() {
            eprintln!(
                "note: not installed, screened without: {} (run ./setup.sh)",
                chain.skipped().join(", ")
            );
        }
    }
    Ok(())
}
